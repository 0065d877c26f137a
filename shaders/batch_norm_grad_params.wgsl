// Backward of training-mode batch norm, step 2 of 3: one invocation per channel adds its
// chunks' partial sums in order: dβ = Σdy, dγ = Σdy·x̂ = Σdy·(x − μ_B) / √(σ²_B + ε).
// Layouts: partials is C×groups×2; var, dgamma, dbeta are C.

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
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read> var_: array<f32>;
@group(0) @binding(3) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(4) var<storage, read_write> dbeta: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn bn_grad_params(
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
    dbeta[c] = s.x;
    dgamma[c] = s.y * (1.0 / sqrt(var_[c] + p.eps));
}
