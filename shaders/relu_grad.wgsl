// Backward of ReLU from its output: the gradient passes where y > 0. With `accumulate` the
// result is added to dx (a tensor read by several ops sums their gradients).

struct ReluParams {
    len: u32,
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: ReluParams;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn relu_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.len) {
        return;
    }
    var g = 0.0;
    if (y[idx] > 0.0) {
        g = dy[idx];
    }
    if (p.accumulate != 0u) {
        g = dx[idx] + g;
    }
    dx[idx] = g;
}
