// Backward of the fully connected layer y = x·Wᵀ + b (training form: no fused ReLU).
//
// - `linear_dx`: dx = dy·W, 4 inputs × 4 samples per invocation, optionally added to what dx
//   holds (`accumulate`, for a tensor several ops read).
// - `linear_dw`: dw = dyᵀ·x and db = Σₙ dy, 4 outputs × 4 inputs per invocation. The reduction
//   is over the batch only (at most a few dozen samples), so one pass suffices; the
//   invocations of the first input block also write db.
//
// Barrier-free register blocks, like `linear.wgsl`. Layouts: x and dx are N×I, dy is N×O,
// w and dw O×I (PyTorch), db O.

struct LinearGradParams {
    batch: u32,
    inputs: u32,
    outputs: u32,
    // linear_dx: 1 to add to what dx holds instead of overwriting it.
    accumulate: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: LinearGradParams;

// linear_dx: dy, w → dx.
@group(0) @binding(1) var<storage, read> dx_dy: array<f32>;
@group(0) @binding(2) var<storage, read> dx_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

// linear_dw: x, dy → dw, db.
@group(0) @binding(1) var<storage, read> dw_x: array<f32>;
@group(0) @binding(2) var<storage, read> dw_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<storage, read_write> db: array<f32>;

fn linear_index(wid: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * groups.x) * WG_SIZE + lid;
}

// Four consecutive rows from `r0`, clamped to the last of `count` (the results of clamped rows
// are never stored), times `stride`.
fn rows4(r0: u32, count: u32, stride: u32) -> vec4<u32> {
    let last = count - 1u;
    return vec4<u32>(min(r0, last), min(r0 + 1u, last), min(r0 + 2u, last), min(r0 + 3u, last)) * stride;
}

// Stores dx of sample `n` for the 4 inputs from `i0`.
fn store_dx(n: u32, i0: u32, v: vec4<f32>) {
    if (n >= p.batch) {
        return;
    }
    for (var j = 0u; j < min(p.inputs - i0, 4u); j++) {
        let at = n * p.inputs + i0 + j;
        var s = v[j];
        if (p.accumulate != 0u) {
            s += dx[at];
        }
        dx[at] = s;
    }
}

@compute @workgroup_size(WG_SIZE)
fn linear_dx(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    let in_blocks = (p.inputs + 3u) / 4u;
    if (idx >= in_blocks * ((p.batch + 3u) / 4u)) {
        return;
    }
    let i0 = (idx % in_blocks) * 4u;
    let n0 = (idx / in_blocks) * 4u;
    let wc = rows4(i0, p.inputs, 1u);
    let dr = rows4(n0, p.batch, p.outputs);

    // acc<j>: sample n0 + j, the 4 inputs.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var wo = 0u;
    for (var o = 0u; o < p.outputs; o++) {
        let wv = vec4<f32>(dx_w[wo + wc[0]], dx_w[wo + wc[1]], dx_w[wo + wc[2]], dx_w[wo + wc[3]]);
        acc0 += dx_dy[dr[0] + o] * wv;
        acc1 += dx_dy[dr[1] + o] * wv;
        acc2 += dx_dy[dr[2] + o] * wv;
        acc3 += dx_dy[dr[3] + o] * wv;
        wo += p.inputs;
    }
    store_dx(n0, i0, acc0);
    store_dx(n0 + 1u, i0, acc1);
    store_dx(n0 + 2u, i0, acc2);
    store_dx(n0 + 3u, i0, acc3);
}

// Stores dw of output `o` for the 4 inputs from `i0`.
fn store_dw(o: u32, i0: u32, v: vec4<f32>) {
    if (o >= p.outputs) {
        return;
    }
    for (var j = 0u; j < min(p.inputs - i0, 4u); j++) {
        dw[o * p.inputs + i0 + j] = v[j];
    }
}

@compute @workgroup_size(WG_SIZE)
fn linear_dw(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    let in_blocks = (p.inputs + 3u) / 4u;
    if (idx >= in_blocks * ((p.outputs + 3u) / 4u)) {
        return;
    }
    let i0 = (idx % in_blocks) * 4u;
    let o0 = (idx / in_blocks) * 4u;
    let xc = rows4(i0, p.inputs, 1u);
    let dc = rows4(o0, p.outputs, 1u);

    // acc<j>: output o0 + j, the 4 inputs.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var bias = vec4<f32>(0.0);
    var xn = 0u;
    var dn = 0u;
    for (var n = 0u; n < p.batch; n++) {
        let xv = vec4<f32>(dw_x[xn + xc[0]], dw_x[xn + xc[1]], dw_x[xn + xc[2]], dw_x[xn + xc[3]]);
        let d = vec4<f32>(dw_dy[dn + dc[0]], dw_dy[dn + dc[1]], dw_dy[dn + dc[2]], dw_dy[dn + dc[3]]);
        acc0 += d[0] * xv;
        acc1 += d[1] * xv;
        acc2 += d[2] * xv;
        acc3 += d[3] * xv;
        bias += d;
        xn += p.inputs;
        dn += p.outputs;
    }
    store_dw(o0, i0, acc0);
    store_dw(o0 + 1u, i0, acc1);
    store_dw(o0 + 2u, i0, acc2);
    store_dw(o0 + 3u, i0, acc3);
    if (i0 == 0u) {
        for (var j = 0u; j < min(p.outputs - o0, 4u); j++) {
            db[o0 + j] = bias[j];
        }
    }
}
