// Concatenation along features: copies one input (N×len) into columns
// [offset, offset+len) of the output (N×total). A concat of k inputs is k dispatches.

struct ConcatParams {
    batch: u32,
    len: u32,
    offset: u32,
    total: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: ConcatParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn concat_copy(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.batch * p.len) {
        return;
    }
    let n = idx / p.len;
    let i = idx % p.len;
    y[n * p.total + p.offset + i] = x[idx];
}
