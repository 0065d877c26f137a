// Backward of training-mode batch norm, step 3 of 3: the input's gradient
// dx = γ/σ · (dy − dβ/M − x̂·dγ/M) with x̂ = (x − μ_B)/σ, σ = √(σ²_B + ε), M = N·H·W; with
// `accumulate` it is added to dx.
// Layouts: x, dy, dx are N×C×H×W; gamma, mean, var, dgamma, dbeta are C.

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
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> var_: array<f32>;
@group(0) @binding(6) var<storage, read> dgamma: array<f32>;
@group(0) @binding(7) var<storage, read> dbeta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn bn_grad_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Four values of one plane per invocation: the channel's terms are formed once.
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    let quads = (p.plane + 3u) / 4u;
    if (idx >= p.batch * p.channels * quads) {
        return;
    }
    let plane = idx / quads;
    let c = plane % p.channels;
    let inv = 1.0 / sqrt(var_[c] + p.eps);
    let m = f32(p.batch * p.plane);
    let k = gamma[c] * inv;
    let mu = mean[c];
    let mean_dy = dbeta[c] / m;
    let mean_dyx = dgamma[c] / m;
    let first = (idx - plane * quads) * 4u;
    let base = plane * p.plane;
    for (var j = first; j < min(first + 4u, p.plane); j++) {
        let at = base + j;
        let xhat = (x[at] - mu) * inv;
        var g = k * (dy[at] - mean_dy - xhat * mean_dyx);
        if (p.accumulate != 0u) {
            g = dx[at] + g;
        }
        dx[at] = g;
    }
}
