// Batch norm in inference form: a per-channel affine map y = x·scale[c] + shift[c], with an
// optional fused ReLU. Used where batch norm cannot be folded into a preceding convolution
// (the pre-activation residual blocks and the head).
// Layouts: x and y are N×C×H×W; scale and shift are C.

struct AffineParams {
    len: u32,
    channels: u32,
    plane: u32,
    relu: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: AffineParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> shift: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn affine(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.len) {
        return;
    }
    let c = (idx / p.plane) % p.channels;
    var v = x[idx] * scale[c] + shift[c];
    if (p.relu != 0u) {
        v = max(v, 0.0);
    }
    y[idx] = v;
}
