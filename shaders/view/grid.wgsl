// Ground grid under the hand: one quad in the plane y = grid_center.y, lines drawn in the
// fragment shader (10 mm minor, 50 mm major), anti-aliased with screen-space derivatives and
// alpha-blended over what is already drawn, depth-tested but not depth-writing.

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
    // Plane coordinates (x, z) in mm.
    @location(0) plane: vec2<f32>,
}

@vertex
fn vs_main(@builtin(vertex_index) vertex: u32) -> VsOut {
    var corners = array<vec2<f32>, 6>(
        vec2(-1.0, -1.0), vec2(1.0, -1.0), vec2(1.0, 1.0),
        vec2(-1.0, -1.0), vec2(1.0, 1.0), vec2(-1.0, 1.0),
    );
    let c = corners[vertex % 6u] * camera.grid_half;
    let p = camera.grid_center + vec3(c.x, 0.0, c.y);
    var out: VsOut;
    out.position = camera.view_proj * vec4(p, 1.0);
    out.plane = p.xz;
    return out;
}

// 1 on a line of the given spacing, falling to 0 about a pixel away.
fn lines(plane: vec2<f32>, spacing: f32) -> f32 {
    let coord = plane / spacing;
    let width = max(fwidth(coord), vec2(1e-6));
    let dist = abs(fract(coord - 0.5) - 0.5) / width;
    return 1.0 - min(min(dist.x, dist.y), 1.0);
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let minor = lines(in.plane, 10.0);
    let major = lines(in.plane, 50.0);
    // Fade out towards the edge of the square.
    let edge = max(abs(in.plane.x - camera.grid_center.x), abs(in.plane.y - camera.grid_center.z));
    let fade = 1.0 - smoothstep(0.7, 1.0, edge / camera.grid_half);
    let alpha = max(minor * 0.25, major * 0.6) * fade;
    if alpha <= 0.003 {
        discard;
    }
    return vec4(vec3(0.55, 0.55, 0.6), alpha);
}
