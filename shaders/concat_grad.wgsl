// Backward of concatenation: one input's gradient (N×len) is columns [offset, offset+len) of
// the output's gradient (N×total). A concat of k inputs is k dispatches.

struct ConcatGradParams {
    batch: u32,
    len: u32,
    offset: u32,
    total: u32,
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: ConcatGradParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn concat_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.batch * p.len) {
        return;
    }
    let n = idx / p.len;
    var g = dy[n * p.total + p.offset + idx % p.len];
    if (p.accumulate != 0u) {
        g = dx[idx] + g;
    }
    dx[idx] = g;
}
