// Depth point cloud: one instance per depth pixel of the window, a screen-aligned quad of six
// vertices each (WebGPU has no point size). The pixel is back-projected here, in the vertex
// shader, so only the raw depths travel to the GPU: x = (u − cx)·d/fx, y = (cy − v)·d/fy, z = d
// (hourhand's Intrinsics::uvd_to_xyz).

struct Camera {
    view_proj: mat4x4<f32>,
    eye: vec3<f32>,
    // Pixels per mm at 1 mm view depth (projection scale × half the viewport height).
    focal_px: f32,
    viewport: vec2<f32>,
    _pad: vec2<f32>,
    grid_center: vec3<f32>,
    grid_half: f32,
}

struct Cloud {
    // fx, fy, cx, cy in pixels.
    intrinsics: vec4<f32>,
    // Top-left pixel (u, v) of the window in the full frame.
    origin: vec2<u32>,
    width: u32,
    _pad0: u32,
    // Depths outside [near, far] mm are not drawn.
    near: f32,
    far: f32,
    _pad1: vec2<f32>,
}

@group(0) @binding(0) var<uniform> camera: Camera;
@group(1) @binding(0) var<uniform> cloud: Cloud;

struct VsOut {
    @builtin(position) position: vec4<f32>,
    @location(0) color: vec4<f32>,
}

fn corner(i: u32) -> vec2<f32> {
    var corners = array<vec2<f32>, 6>(
        vec2(-1.0, -1.0), vec2(1.0, -1.0), vec2(1.0, 1.0),
        vec2(-1.0, -1.0), vec2(1.0, 1.0), vec2(-1.0, 1.0),
    );
    return corners[i];
}

@vertex
fn vs_main(
    @builtin(vertex_index) vertex: u32,
    @builtin(instance_index) pixel: u32,
    @location(0) depth: f32,
) -> VsOut {
    var out: VsOut;
    // Outside the clip volume: the rasteriser drops the quad.
    out.position = vec4(2.0, 2.0, 2.0, 1.0);
    out.color = vec4(0.0);
    // NaN fails every comparison, so non-finite depths drop out here too.
    if !(depth > 0.0 && depth >= cloud.near && depth <= cloud.far) {
        return out;
    }
    let u = f32(cloud.origin.x + pixel % cloud.width);
    let v = f32(cloud.origin.y + pixel / cloud.width);
    let k = cloud.intrinsics;
    let p = vec3((u - k.z) * depth / k.x, (k.w - v) * depth / k.y, depth);
    var clip = camera.view_proj * vec4(p, 1.0);
    if clip.w <= 0.0 {
        return out;
    }
    // A pixel covers depth/fx mm; a little more closes the gaps between neighbours. At least
    // a pixel across on screen, so a distant cloud does not vanish.
    let half_mm = 0.6 * depth / k.x;
    let half_px = max(half_mm * camera.focal_px / clip.w, 0.75);
    let c = corner(vertex % 6u);
    clip = vec4(clip.xy + c * half_px * 2.0 / camera.viewport * clip.w, clip.zw);
    out.position = clip;
    // Grey ramp, light near to dark far: distinct from every skeleton colour.
    let t = clamp((depth - cloud.near) / max(cloud.far - cloud.near, 1e-3), 0.0, 1.0);
    let g = mix(0.86, 0.30, t);
    out.color = vec4(g, g, g * 0.97, 1.0);
    return out;
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    return in.color;
}
