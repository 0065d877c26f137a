// Batch norm in training mode: y = γ·(x − μ_B)/√(σ²_B + ε) + β with the batch's own statistics
// (from batch_norm_stats.wgsl).
// Layouts: x and y are N×C×H×W; gamma, beta, mean, var are C.

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
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> var_: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn bn_normalize(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Four values of one plane per invocation: the channel's parameters are read once.
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    let quads = (p.plane + 3u) / 4u;
    if (idx >= p.batch * p.channels * quads) {
        return;
    }
    let plane = idx / quads;
    let c = plane % p.channels;
    let scale = gamma[c] * (1.0 / sqrt(var_[c] + p.eps));
    let mu = mean[c];
    let shift = beta[c];
    let first = (idx - plane * quads) * 4u;
    let base = plane * p.plane;
    for (var j = first; j < min(first + 4u, p.plane); j++) {
        y[base + j] = (x[base + j] - mu) * scale + shift;
    }
}
