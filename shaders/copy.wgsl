// y = x, or y += x with `accumulate`: the backward of a sum hands its gradient to both operands.

struct CopyParams {
    len: u32,
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: CopyParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn copy_into(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.len) {
        return;
    }
    var v = x[idx];
    if (p.accumulate != 0u) {
        v = y[idx] + v;
    }
    y[idx] = v;
}
