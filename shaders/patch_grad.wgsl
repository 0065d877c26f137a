// Backward of a patch: the patch's gradient inside its window, zero elsewhere, one invocation
// per input element. The head's patches tile one map, so the first patch's backward writes the
// whole gradient and the others accumulate into it.
// Layouts: dy is P×h×w, dx is P×H×W, with P = N·C planes.

struct PatchGradParams {
    planes: u32,
    hin: u32,
    win: u32,
    y0: u32,
    x0: u32,
    h: u32,
    w: u32,
    accumulate: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: PatchGradParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn patch_grad(
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
    var g = 0.0;
    if (y >= p.y0 && y < p.y0 + p.h && x >= p.x0 && x < p.x0 + p.w) {
        g = dy[(plane * p.h + y - p.y0) * p.w + x - p.x0];
    }
    if (p.accumulate != 0u) {
        g = dx[idx] + g;
    }
    dx[idx] = g;
}
