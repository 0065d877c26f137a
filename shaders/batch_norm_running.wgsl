// Moves the running averages towards this batch's statistics, as PyTorch does:
// r ← (1 − momentum)·r + momentum·batch, the variance unbiased by M/(M − 1). One invocation
// per channel.

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
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> var_: array<f32>;
@group(0) @binding(3) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_var: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn bn_running(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (c >= p.channels) {
        return;
    }
    let keep = 1.0 - p.momentum;
    running_mean[c] = keep * running_mean[c] + p.momentum * mean[c];
    running_var[c] = keep * running_var[c] + p.momentum * var_[c] * p.unbias;
}
