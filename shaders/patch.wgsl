// Cuts one local-regression patch out of a feature map: the window [y0, y0+h) × [x0, x0+w) of
// every plane. One invocation per output element.
// Layouts: x is P×H×W and y is P×h×w, with P = N·C planes.

struct PatchParams {
    planes: u32,
    hin: u32,
    win: u32,
    y0: u32,
    x0: u32,
    h: u32,
    w: u32,
    _pad: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: PatchParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn slice_patch(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.planes * p.h * p.w) {
        return;
    }
    let px = idx % p.w;
    let py = (idx / p.w) % p.h;
    let plane = idx / (p.w * p.h);
    y[idx] = x[(plane * p.hin + p.y0 + py) * p.win + p.x0 + px];
}
