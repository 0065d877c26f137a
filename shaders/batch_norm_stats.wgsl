// Batch norm in training mode, step 2 of 2 of the batch statistics: one invocation per channel
// adds its chunks' partial sums in order and writes the batch mean and the biased variance
// (what normalizes; the running update unbiases it).
// Layouts: x is N×C×H×W (read for the shift K only); partials is C×groups×2; mean, var are C.

struct BatchNormParams {
    batch: u32,
    channels: u32,
    plane: u32,
    groups: u32,
    chunk: u32,
    accumulate: u32,
    momentum: f32,
    unbias: f32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: BatchNormParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> var_: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn bn_stats(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (c >= p.channels) {
        return;
    }
    var s = vec2<f32>(0.0, 0.0);
    for (var g = 0u; g < p.groups; g++) {
        let at = 2u * (c * p.groups + g);
        s += vec2<f32>(partials[at], partials[at + 1u]);
    }
    let m = f32(p.batch * p.plane);
    let shifted = s.x / m;
    mean[c] = x[c * p.plane] + shifted;
    var_[c] = max(s.y / m - shifted * shifted, 0.0);
}
