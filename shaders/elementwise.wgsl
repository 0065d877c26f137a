// Element-wise sum of two tensors of the same shape (residual and hourglass merges).

struct AddParams {
    len: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: AddParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn add(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.len) {
        return;
    }
    y[idx] = a[idx] + b[idx];
}
