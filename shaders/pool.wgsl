// Max pooling over square windows without padding; one invocation per output element.
// Layouts: x is P×H×W and y is P×Hout×Wout, with P = N·C planes.

struct MaxPoolParams {
    planes: u32,
    hin: u32,
    win: u32,
    hout: u32,
    wout: u32,
    kernel: u32,
    stride: u32,
    _pad: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: MaxPoolParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn max_pool(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.planes * p.hout * p.wout) {
        return;
    }
    let ox = idx % p.wout;
    let oy = (idx / p.wout) % p.hout;
    let plane = idx / (p.wout * p.hout);
    let base = plane * p.hin * p.win + oy * p.stride * p.win + ox * p.stride;
    var m = x[base];
    for (var ky = 0u; ky < p.kernel; ky++) {
        for (var kx = 0u; kx < p.kernel; kx++) {
            m = max(m, x[base + ky * p.win + kx]);
        }
    }
    y[idx] = m;
}
