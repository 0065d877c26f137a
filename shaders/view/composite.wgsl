// Composites the 3D view's offscreen colour target into egui's render pass: one triangle that
// covers the viewport egui set for the paint callback, sampling the target 1:1.

@group(0) @binding(0) var scene: texture_2d<f32>;
@group(0) @binding(1) var scene_sampler: sampler;

struct VsOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
}

@vertex
fn vs_main(@builtin(vertex_index) vertex: u32) -> VsOut {
    // (0,0), (2,0), (0,2) in uv: a triangle over the whole viewport.
    let uv = vec2(f32((vertex << 1u) & 2u), f32(vertex & 2u));
    var out: VsOut;
    out.position = vec4(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

// egui's preferred non-sRGB framebuffer: the target's bytes are already gamma-encoded.
@fragment
fn fs_gamma(in: VsOut) -> @location(0) vec4<f32> {
    return textureSample(scene, scene_sampler, in.uv);
}

fn to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3(2.4));
    return select(high, low, c <= vec3(0.04045));
}

// An sRGB framebuffer encodes on write, so decode first.
@fragment
fn fs_linear(in: VsOut) -> @location(0) vec4<f32> {
    let c = textureSample(scene, scene_sampler, in.uv);
    return vec4(to_linear(c.rgb), c.a);
}
