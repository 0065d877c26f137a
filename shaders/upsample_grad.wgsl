// Backward of nearest upsampling: each input pixel sums the gradient of its factor² copies
// (rows, then columns, as the CPU does). One invocation per input element.
// Layouts: dy is P×(H·f)×(W·f), dx is P×H×W, with P = N·C planes.

struct UpsampleGradParams {
    planes: u32,
    hin: u32,
    win: u32,
    factor: u32,
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: UpsampleGradParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn upsample_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.planes * p.hin * p.win) {
        return;
    }
    let x = idx % p.win;
    let y = (idx / p.win) % p.hin;
    let plane = idx / (p.win * p.hin);
    let wout = p.win * p.factor;
    let base = (plane * p.hin * p.factor + y * p.factor) * wout + x * p.factor;
    var g = 0.0;
    for (var fy = 0u; fy < p.factor; fy++) {
        for (var fx = 0u; fx < p.factor; fx++) {
            g += dy[base + fy * wout + fx];
        }
    }
    if (p.accumulate != 0u) {
        g = dx[idx] + g;
    }
    dx[idx] = g;
}
