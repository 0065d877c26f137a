// Skeletons and the axes gizmo: joints as camera-facing discs, bones as thick screen-space
// lines. Both move towards the eye by a bias (a joint by its radius: the front of its sphere)
// so they are not buried in the surface points they sit on.

struct Camera {
    view_proj: mat4x4<f32>,
    eye: vec3<f32>,
    focal_px: f32,
    viewport: vec2<f32>,
    _pad: vec2<f32>,
    grid_center: vec3<f32>,
    grid_half: f32,
}

@group(0) @binding(0) var<uniform> camera: Camera;

struct VsOut {
    @builtin(position) position: vec4<f32>,
    @location(0) color: vec4<f32>,
    // Position inside the disc, −1..1 (joints only).
    @location(1) local: vec2<f32>,
}

fn corner(i: u32) -> vec2<f32> {
    var corners = array<vec2<f32>, 6>(
        vec2(-1.0, -1.0), vec2(1.0, -1.0), vec2(1.0, 1.0),
        vec2(-1.0, -1.0), vec2(1.0, 1.0), vec2(-1.0, 1.0),
    );
    return corners[i];
}

fn toward_eye(p: vec3<f32>, bias: f32) -> vec3<f32> {
    let d = camera.eye - p;
    let len = length(d);
    if len <= bias || len <= 0.0 {
        return p;
    }
    return p + d / len * bias;
}

fn hidden() -> VsOut {
    var out: VsOut;
    out.position = vec4(2.0, 2.0, 2.0, 1.0);
    out.color = vec4(0.0);
    out.local = vec2(0.0);
    return out;
}

@vertex
fn vs_joint(
    @builtin(vertex_index) vertex: u32,
    @location(0) center: vec3<f32>,
    @location(1) radius: f32,
    @location(2) color: vec4<f32>,
) -> VsOut {
    var clip = camera.view_proj * vec4(toward_eye(center, radius), 1.0);
    if clip.w <= 0.0 {
        return hidden();
    }
    let radius_px = max(radius * camera.focal_px / clip.w, 2.0);
    let c = corner(vertex % 6u);
    clip = vec4(clip.xy + c * radius_px * 2.0 / camera.viewport * clip.w, clip.zw);
    var out: VsOut;
    out.position = clip;
    out.color = color;
    out.local = c;
    return out;
}

@fragment
fn fs_joint(in: VsOut) -> @location(0) vec4<f32> {
    let r2 = dot(in.local, in.local);
    if r2 > 1.0 {
        discard;
    }
    // A darker rim separates touching joints.
    let rim = select(1.0, 0.55, r2 > 0.72);
    return vec4(in.color.rgb * rim, in.color.a);
}

@vertex
fn vs_bone(
    @builtin(vertex_index) vertex: u32,
    @location(0) a: vec3<f32>,
    @location(1) half_width: f32,
    @location(2) b: vec3<f32>,
    @location(3) bias: f32,
    @location(4) color: vec4<f32>,
) -> VsOut {
    // (end, side) of each of the six vertices.
    var ends = array<vec2<f32>, 6>(
        vec2(0.0, -1.0), vec2(1.0, -1.0), vec2(1.0, 1.0),
        vec2(0.0, -1.0), vec2(1.0, 1.0), vec2(0.0, 1.0),
    );
    let e = ends[vertex % 6u];
    let ca = camera.view_proj * vec4(toward_eye(a, bias), 1.0);
    let cb = camera.view_proj * vec4(toward_eye(b, bias), 1.0);
    if ca.w <= 0.0 || cb.w <= 0.0 {
        return hidden();
    }
    let half_vp = camera.viewport * 0.5;
    let sa = ca.xy / ca.w * half_vp;
    let sb = cb.xy / cb.w * half_vp;
    var dir = sb - sa;
    let len = length(dir);
    dir = select(vec2(1.0, 0.0), dir / len, len > 1e-4);
    let normal = vec2(-dir.y, dir.x);
    var clip = select(ca, cb, e.x > 0.5);
    let half_px = max(half_width * camera.focal_px / clip.w, 1.0);
    clip = vec4(clip.xy + normal * e.y * half_px / half_vp * clip.w, clip.zw);
    var out: VsOut;
    out.position = clip;
    out.color = color;
    out.local = vec2(0.0);
    return out;
}

@fragment
fn fs_bone(in: VsOut) -> @location(0) vec4<f32> {
    return in.color;
}
