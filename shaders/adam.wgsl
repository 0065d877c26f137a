// AdamW (train::adam) on one parameter tensor, one invocation per element, in PyTorch's order:
// m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², p ← p·decay − lr·(m/c₁)/(√(v/c₂) + ε), where
// decay = 1 − lr·λ (1 for parameters without weight decay) and c₁, c₂ are the bias
// corrections 1 − βᵗ, computed once per step on the host.

struct AdamParams {
    len: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    decay: f32,
    c1: f32,
    c2: f32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: AdamParams;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> param: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn adam(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (i >= p.len) {
        return;
    }
    let g = grad[i];
    let m1 = p.beta1 * m[i] + (1.0 - p.beta1) * g;
    let v1 = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
    m[i] = m1;
    v[i] = v1;
    let update = (m1 / p.c1) / (sqrt(v1 / p.c2) + p.eps);
    param[i] = param[i] * p.decay - p.lr * update;
}
