// Nearest-neighbour upsampling by an integer factor; one invocation per output element.
// Layouts: x is P×H×W and y is P×(H·f)×(W·f), with P = N·C planes.

struct UpsampleParams {
    planes: u32,
    hin: u32,
    win: u32,
    factor: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: UpsampleParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn upsample_nearest(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    let wout = p.win * p.factor;
    let hout = p.hin * p.factor;
    if (idx >= p.planes * hout * wout) {
        return;
    }
    let ox = idx % wout;
    let oy = (idx / wout) % hout;
    let plane = idx / (wout * hout);
    y[idx] = x[(plane * p.hin + oy / p.factor) * p.win + ox / p.factor];
}
