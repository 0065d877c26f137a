// Backward of the 2D convolution (training form: no fused ReLU).
//
// - dx: `dx[n, ic, iy, ix] = Σ_oc Σ_ky Σ_kx w[oc, ic, ky, kx] · dy[n, oc, oy, ox]` over the
//   (oy, ox) with `oy·stride + ky − pad = iy` (and the same along x): a convolution of dy with
//   the transposed, flipped weights. Optionally added to what dx holds (`accumulate`), for a
//   tensor that several ops read.
// - dw: `dw[oc, ic, ky, kx] = Σ_n Σ_oy Σ_ox dy[n, oc, oy, ox] · x[n, ic, oy·s + ky − p, ox·s + kx − p]`
//   and `db[oc] = Σ dy[n, oc, ·, ·]`. The reduction (batch × output pixels, up to 1M products
//   per weight) is split into `chunks` of consecutive units (output rows, or for 1×1 segments
//   of the flattened plane); each invocation sums one chunk into a partial, and
//   `conv2d_dw_reduce` adds the partials in chunk order. The split depends only on the shapes,
//   so the sums are deterministic. With one chunk the first pass writes dw and db directly.
//
// Like `conv2d.wgsl`, every entry point is barrier-free and works on a register block, so
// each value loaded feeds several FMAs. On lavapipe each load is a loop over the SIMD lanes
// with a branch per lane, whatever its width: a vec4 load costs about what a scalar one does.
// So the paths the network takes (every width a multiple of 4) view the tensors as vec4s:
//
// - `conv2d_dx`: any geometry, scalar loads; 4 input channels × 4 neighbouring columns.
// - `conv2d_dx_3x3`: stride 1, padding 1, widths and Cin multiples of 4; 4 input channels × 8
//   columns. Per output channel it loads the 36 weights as 9 vec4s and per dy row 4 vec4s,
//   for 288 FMAs.
// - `conv2d_dx_1x1`: stride 1, unpadded, planes and Cin multiples of 4; 4 input channels × 8
//   pixels: 3 vec4 loads for 32 FMAs.
// - `conv2d_dw`: any geometry, scalar loads; 4 output channels × 4 flattened (ic, ky, kx) taps.
// - `conv2d_dw_3x3`: stride 1, padding 1, widths multiples of 4; 4 output channels × the 9 taps
//   of one input channel. The 3×3 window slides along an output row 4 columns at a time: per
//   step 4 dy vec4s and 3 new input vec4s feed 144 FMAs.
// - `conv2d_dw_1x1`: stride 1, unpadded, planes multiples of 4; 4 output × 4 input channels,
//   4 pixels per step: 8 vec4 loads for 64 FMAs.
//
// Layouts: x and dx are N×Cin×H×W, w and dw Cout×Cin×K×K (PyTorch), db Cout, dy
// N×Cout×Hout×Wout; the partials are chunks × (Cout·Cin·K·K) and chunks × Cout.

struct Conv2dGradParams {
    batch: u32,
    cin: u32,
    hin: u32,
    win: u32,
    cout: u32,
    hout: u32,
    wout: u32,
    kernel: u32,
    stride: u32,
    pad: u32,
    // dx: 1 to add to what dx holds instead of overwriting it.
    accumulate: u32,
    // dx: blocks of columns per input row (4 or 8 wide), or of pixels per plane (1×1).
    col_blocks: u32,
    // dw: units of the reduction: batch × hout output rows, or batch × segments of `seg_len`
    // pixels of the flattened plane (1×1).
    units: u32,
    // dw: consecutive units each chunk sums, and the number of chunks.
    units_per_chunk: u32,
    chunks: u32,
    // dw, 1×1: pixels per unit (the last unit of a plane may be shorter).
    seg_len: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Conv2dGradParams;

// dx entry points: dy, w → dx.
@group(0) @binding(1) var<storage, read> dx_dy: array<f32>;
@group(0) @binding(2) var<storage, read> dx_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

// dw entry points: x, dy → dw (or its partials), db (or its partials).
@group(0) @binding(1) var<storage, read> dw_x: array<f32>;
@group(0) @binding(2) var<storage, read> dw_dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<storage, read_write> db: array<f32>;

// The vec4 views of the fast paths (same buffers, same order).
@group(0) @binding(1) var<storage, read> dx_dy4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dx_w4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dx4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dw_x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dw_dy4: array<vec4<f32>>;

// conv2d_dw_reduce: the partials → dw, db.
@group(0) @binding(1) var<storage, read> dw_partial: array<f32>;
@group(0) @binding(2) var<storage, read> db_partial: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw_sum: array<f32>;
@group(0) @binding(4) var<storage, read_write> db_sum: array<f32>;

fn linear_index(wid: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * groups.x) * WG_SIZE + lid;
}

// Four consecutive channels from `c0`, clamped to the last of `count` (the results of clamped
// rows are never stored), times `stride`.
fn rows4(c0: u32, count: u32, stride: u32) -> vec4<u32> {
    let last = count - 1u;
    return vec4<u32>(min(c0, last), min(c0 + 1u, last), min(c0 + 2u, last), min(c0 + 3u, last)) * stride;
}

// ---------------------------------------------------------------------------------------------
// dx

// Stores up to 4 values of input channel `ic` starting at `at`, `count` of them inside the row
// or plane, adding to what is there when accumulating.
fn store_dx(ic: u32, at: u32, count: u32, v: vec4<f32>) {
    if (ic >= p.cin) {
        return;
    }
    for (var j = 0u; j < min(count, 4u); j++) {
        var s = v[j];
        if (p.accumulate != 0u) {
            s += dx[at + j];
        }
        dx[at + j] = s;
    }
}

// Stores the 4 channels × 4 positions of a block, channels `plane` apart.
fn store_dx_block(ic0: u32, at: u32, plane: u32, count: u32, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>) {
    store_dx(ic0, at, count, a0);
    store_dx(ic0 + 1u, at + plane, count, a1);
    store_dx(ic0 + 2u, at + 2u * plane, count, a2);
    store_dx(ic0 + 3u, at + 3u * plane, count, a3);
}

// The dx block of `conv2d_dx` and `conv2d_dx_3x3`: 4 channels from `ic0` × `width` columns
// from `ix0` of input row `iy` of sample `n`.
struct DxBlock {
    n: u32,
    ic0: u32,
    iy: u32,
    ix0: u32,
}

fn dx_row_blocks() -> u32 {
    return p.batch * ((p.cin + 3u) / 4u) * p.hin * p.col_blocks;
}

fn dx_row_block(idx: u32, width: u32) -> DxBlock {
    let ic_blocks = (p.cin + 3u) / 4u;
    var t = idx / p.col_blocks;
    let iy = t % p.hin;
    t = t / p.hin;
    return DxBlock(t / ic_blocks, (t % ic_blocks) * 4u, iy, (idx % p.col_blocks) * width);
}

// dy at output column `t / stride` of the row starting at `row`, where `t = ix + pad − kx`;
// zero where no output column maps there.
fn dy_tap_strided(row: u32, t: i32) -> f32 {
    let s = i32(p.stride);
    if (t < 0 || t % s != 0 || t / s >= i32(p.wout)) {
        return 0.0;
    }
    return dx_dy[row + u32(t / s)];
}

@compute @workgroup_size(WG_SIZE)
fn conv2d_dx(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    if (idx >= dx_row_blocks()) {
        return;
    }
    let b = dx_row_block(idx, 4u);
    let k = p.kernel;
    let kk = k * k;
    let wr = rows4(b.ic0, p.cin, kk);
    let s = i32(p.stride);

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var oc = 0u; oc < p.cout; oc++) {
        let plane = (b.n * p.cout + oc) * p.hout;
        let wo = oc * p.cin * kk;
        for (var ky = 0u; ky < k; ky++) {
            let ty = i32(b.iy + p.pad) - i32(ky);
            if (ty < 0 || ty % s != 0 || ty / s >= i32(p.hout)) {
                continue;
            }
            let row = (plane + u32(ty / s)) * p.wout;
            for (var kx = 0u; kx < k; kx++) {
                let t = i32(b.ix0 + p.pad) - i32(kx);
                let d = vec4<f32>(dy_tap_strided(row, t), dy_tap_strided(row, t + 1), dy_tap_strided(row, t + 2), dy_tap_strided(row, t + 3));
                let wi = wo + ky * k + kx;
                acc0 += dx_w[wr[0] + wi] * d;
                acc1 += dx_w[wr[1] + wi] * d;
                acc2 += dx_w[wr[2] + wi] * d;
                acc3 += dx_w[wr[3] + wi] * d;
            }
        }
    }
    let plane = p.hin * p.win;
    let at = ((b.n * p.cin + b.ic0) * p.hin + b.iy) * p.win + b.ix0;
    store_dx_block(b.ic0, at, plane, p.win - b.ix0, acc0, acc1, acc2, acc3);
}

// The dy row `oy` (zero outside the image) of the output plane starting at vec4 `plane4`, as
// the 8 columns of a `conv2d_dx_3x3` block from vec4 `ix4` read it for kx = 0, 1, 2: column c
// reads dy at ox = ix0 + c + 1 − kx (padding 1).
struct DyRow {
    la: vec4<f32>,
    lb: vec4<f32>,
    lc: vec4<f32>,
    ha: vec4<f32>,
    hb: vec4<f32>,
    hc: vec4<f32>,
}

fn dy_row(plane4: u32, oy: i32, ix4: u32) -> DyRow {
    let q = p.wout / 4u;
    let valid = oy >= 0 && oy < i32(p.hout);
    let row = plane4 + u32(clamp(oy, 0, i32(p.hout) - 1)) * q;
    let zero = vec4<f32>(0.0);
    let m0 = select(zero, dx_dy4[row + ix4], valid);
    let m1 = select(zero, dx_dy4[row + min(ix4 + 1u, q - 1u)], valid && ix4 + 1u < q);
    let l = select(zero, dx_dy4[row + max(ix4, 1u) - 1u], valid && ix4 > 0u);
    let r = select(zero, dx_dy4[row + min(ix4 + 2u, q - 1u)], valid && ix4 + 2u < q);
    return DyRow(
        vec4<f32>(m0.yzw, m1.x),
        m0,
        vec4<f32>(l.w, m0.xyz),
        vec4<f32>(m1.yzw, r.x),
        m1,
        vec4<f32>(m0.w, m1.xyz),
    );
}

// Weight `e` of the 36 (4 input channels × 3 × 3) of one output channel, `e` a constant.
fn w_at(ws: ptr<function, array<vec4<f32>, 9>>, e: u32) -> f32 {
    return (*ws)[e / 4u][e % 4u];
}

// The contribution of one dy row through the weights e, e + 1, e + 2 (kx = 0, 1, 2).
fn taps3(ws: ptr<function, array<vec4<f32>, 9>>, e: u32, a: vec4<f32>, b: vec4<f32>, c: vec4<f32>) -> vec4<f32> {
    return w_at(ws, e) * a + w_at(ws, e + 1u) * b + w_at(ws, e + 2u) * c;
}

// Stores (or adds) a vec4 of dx.
fn store_dx4(at4: u32, v: vec4<f32>) {
    var s = v;
    if (p.accumulate != 0u) {
        s += dx4[at4];
    }
    dx4[at4] = s;
}

@compute @workgroup_size(WG_SIZE)
fn conv2d_dx_3x3(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    if (idx >= dx_row_blocks()) {
        return;
    }
    let b = dx_row_block(idx, 8u);
    let ix4 = b.ix0 / 4u;
    let iy = i32(b.iy);
    let plane_out4 = p.hout * p.wout / 4u;

    var lo0 = vec4<f32>(0.0);
    var lo1 = vec4<f32>(0.0);
    var lo2 = vec4<f32>(0.0);
    var lo3 = vec4<f32>(0.0);
    var hi0 = vec4<f32>(0.0);
    var hi1 = vec4<f32>(0.0);
    var hi2 = vec4<f32>(0.0);
    var hi3 = vec4<f32>(0.0);
    for (var oc = 0u; oc < p.cout; oc++) {
        // The 36 weights w[oc, ic0..ic0+4, ·, ·] (Cin a multiple of 4: vec4-aligned).
        let wb = (oc * p.cin + b.ic0) / 4u * 9u;
        var ws = array<vec4<f32>, 9>(
            dx_w4[wb], dx_w4[wb + 1u], dx_w4[wb + 2u], dx_w4[wb + 3u], dx_w4[wb + 4u],
            dx_w4[wb + 5u], dx_w4[wb + 6u], dx_w4[wb + 7u], dx_w4[wb + 8u],
        );
        let plane4 = (b.n * p.cout + oc) * plane_out4;
        // ky = 0, 1, 2 read output rows iy + 1, iy, iy − 1.
        let r0 = dy_row(plane4, iy + 1, ix4);
        let r1 = dy_row(plane4, iy, ix4);
        let r2 = dy_row(plane4, iy - 1, ix4);
        lo0 += taps3(&ws, 0u, r0.la, r0.lb, r0.lc) + taps3(&ws, 3u, r1.la, r1.lb, r1.lc) + taps3(&ws, 6u, r2.la, r2.lb, r2.lc);
        hi0 += taps3(&ws, 0u, r0.ha, r0.hb, r0.hc) + taps3(&ws, 3u, r1.ha, r1.hb, r1.hc) + taps3(&ws, 6u, r2.ha, r2.hb, r2.hc);
        lo1 += taps3(&ws, 9u, r0.la, r0.lb, r0.lc) + taps3(&ws, 12u, r1.la, r1.lb, r1.lc) + taps3(&ws, 15u, r2.la, r2.lb, r2.lc);
        hi1 += taps3(&ws, 9u, r0.ha, r0.hb, r0.hc) + taps3(&ws, 12u, r1.ha, r1.hb, r1.hc) + taps3(&ws, 15u, r2.ha, r2.hb, r2.hc);
        lo2 += taps3(&ws, 18u, r0.la, r0.lb, r0.lc) + taps3(&ws, 21u, r1.la, r1.lb, r1.lc) + taps3(&ws, 24u, r2.la, r2.lb, r2.lc);
        hi2 += taps3(&ws, 18u, r0.ha, r0.hb, r0.hc) + taps3(&ws, 21u, r1.ha, r1.hb, r1.hc) + taps3(&ws, 24u, r2.ha, r2.hb, r2.hc);
        lo3 += taps3(&ws, 27u, r0.la, r0.lb, r0.lc) + taps3(&ws, 30u, r1.la, r1.lb, r1.lc) + taps3(&ws, 33u, r2.la, r2.lb, r2.lc);
        hi3 += taps3(&ws, 27u, r0.ha, r0.hb, r0.hc) + taps3(&ws, 30u, r1.ha, r1.hb, r1.hc) + taps3(&ws, 33u, r2.ha, r2.hb, r2.hc);
    }
    let q = p.win / 4u;
    let plane4 = p.hin * q;
    let at = ((b.n * p.cin + b.ic0) * p.hin + b.iy) * q + ix4;
    store_dx4(at, lo0);
    store_dx4(at + plane4, lo1);
    store_dx4(at + 2u * plane4, lo2);
    store_dx4(at + 3u * plane4, lo3);
    if (ix4 + 1u < q) {
        store_dx4(at + 1u, hi0);
        store_dx4(at + 1u + plane4, hi1);
        store_dx4(at + 1u + 2u * plane4, hi2);
        store_dx4(at + 1u + 3u * plane4, hi3);
    }
}

@compute @workgroup_size(WG_SIZE)
fn conv2d_dx_1x1(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    let ic_blocks = p.cin / 4u;
    if (idx >= p.batch * ic_blocks * p.col_blocks) {
        return;
    }
    // Blocks of 2 vec4s (8 pixels) of the flattened plane, `q` vec4s long.
    let q = p.hout * p.wout / 4u;
    let px4 = (idx % p.col_blocks) * 2u;
    let t = idx / p.col_blocks;
    let ic4 = t % ic_blocks;
    let n = t / ic_blocks;
    let has_hi = px4 + 1u < q;
    let hi4 = min(px4 + 1u, q - 1u);

    var lo0 = vec4<f32>(0.0);
    var lo1 = vec4<f32>(0.0);
    var lo2 = vec4<f32>(0.0);
    var lo3 = vec4<f32>(0.0);
    var hi0 = vec4<f32>(0.0);
    var hi1 = vec4<f32>(0.0);
    var hi2 = vec4<f32>(0.0);
    var hi3 = vec4<f32>(0.0);
    var at = n * p.cout * q;
    var wo = ic4;
    for (var oc = 0u; oc < p.cout; oc++) {
        let dl = dx_dy4[at + px4];
        let dh = dx_dy4[at + hi4];
        // w[oc, ic0..ic0+4].
        let wv = dx_w4[wo];
        lo0 += wv.x * dl;
        hi0 += wv.x * dh;
        lo1 += wv.y * dl;
        hi1 += wv.y * dh;
        lo2 += wv.z * dl;
        hi2 += wv.z * dh;
        lo3 += wv.w * dl;
        hi3 += wv.w * dh;
        at += q;
        wo += ic_blocks;
    }
    let out = (n * p.cin + ic4 * 4u) * q + px4;
    store_dx4(out, lo0);
    store_dx4(out + q, lo1);
    store_dx4(out + 2u * q, lo2);
    store_dx4(out + 3u * q, lo3);
    if (has_hi) {
        store_dx4(out + 1u, hi0);
        store_dx4(out + 1u + q, hi1);
        store_dx4(out + 1u + 2u * q, hi2);
        store_dx4(out + 1u + 3u * q, hi3);
    }
}

// ---------------------------------------------------------------------------------------------
// dw

// The units `[start, end)` chunk `c` sums.
fn chunk_units(c: u32) -> vec2<u32> {
    let start = c * p.units_per_chunk;
    return vec2<u32>(start, min(start + p.units_per_chunk, p.units));
}

// Stores the partial dw of output channel `oc` for taps `t0..t0+4` (`taps` per channel) of
// chunk `c`.
fn store_dw(c: u32, oc: u32, t0: u32, taps: u32, v: vec4<f32>) {
    if (oc >= p.cout) {
        return;
    }
    let at = (c * p.cout + oc) * taps + t0;
    for (var j = 0u; j < min(taps - t0, 4u); j++) {
        dw[at + j] = v[j];
    }
}

// Stores the partial db of the 4 output channels from `oc0` of chunk `c`.
fn store_db(c: u32, oc0: u32, v: vec4<f32>) {
    for (var j = 0u; j < min(p.cout - oc0, 4u); j++) {
        db[c * p.cout + oc0 + j] = v[j];
    }
}

// Input value at column `ix` of the row starting at `row`, zero outside the row or when the
// row itself lies in the padding (`valid` false).
fn x_tap(row: u32, valid: bool, ix: i32) -> f32 {
    if (!valid || ix < 0 || ix >= i32(p.win)) {
        return 0.0;
    }
    return dw_x[row + u32(ix)];
}

@compute @workgroup_size(WG_SIZE)
fn conv2d_dw(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    let k = p.kernel;
    let kk = k * k;
    let taps = p.cin * kk;
    let tap_blocks = (taps + 3u) / 4u;
    let oc_blocks = (p.cout + 3u) / 4u;
    if (idx >= p.chunks * oc_blocks * tap_blocks) {
        return;
    }
    let t0 = (idx % tap_blocks) * 4u;
    let rest = idx / tap_blocks;
    let oc0 = (rest % oc_blocks) * 4u;
    let c = rest / oc_blocks;
    // The 4 taps (clamped to the last; their results are never stored): channel, ky, kx.
    let tl = taps - 1u;
    let tv = vec4<u32>(min(t0, tl), min(t0 + 1u, tl), min(t0 + 2u, tl), min(t0 + 3u, tl));
    let ic = tv / kk;
    let ky = (tv % kk) / k;
    let kx = tv % k;
    let pad = i32(p.pad);
    let s = p.stride;
    let units = chunk_units(c);

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var bias = vec4<f32>(0.0);
    for (var u = units.x; u < units.y; u++) {
        let n = u / p.hout;
        let oy = u % p.hout;
        let dr = rows4(oc0, p.cout, p.hout * p.wout) + ((n * p.cout) * p.hout + oy) * p.wout;
        let iy = vec4<i32>(i32(oy * s) - pad) + vec4<i32>(ky);
        let valid = iy >= vec4<i32>(0) & iy < vec4<i32>(i32(p.hin));
        let xr = ((vec4<u32>(n * p.cin) + ic) * p.hin + vec4<u32>(max(iy, vec4<i32>(0)))) * p.win;
        let ix0 = vec4<i32>(kx) - vec4<i32>(pad);
        for (var ox = 0u; ox < p.wout; ox++) {
            let d = vec4<f32>(dw_dy[dr[0] + ox], dw_dy[dr[1] + ox], dw_dy[dr[2] + ox], dw_dy[dr[3] + ox]);
            let ix = ix0 + vec4<i32>(i32(ox * s));
            let xv = vec4<f32>(x_tap(xr[0], valid[0], ix[0]), x_tap(xr[1], valid[1], ix[1]), x_tap(xr[2], valid[2], ix[2]), x_tap(xr[3], valid[3], ix[3]));
            acc0 += d[0] * xv;
            acc1 += d[1] * xv;
            acc2 += d[2] * xv;
            acc3 += d[3] * xv;
            bias += d;
        }
    }
    store_dw(c, oc0, t0, taps, acc0);
    store_dw(c, oc0 + 1u, t0, taps, acc1);
    store_dw(c, oc0 + 2u, t0, taps, acc2);
    store_dw(c, oc0 + 3u, t0, taps, acc3);
    if (t0 == 0u) {
        store_db(c, oc0, bias);
    }
}

// The 4 dot products of `v` with the dy vec4s of the 4 output channels.
fn dots(d0: vec4<f32>, d1: vec4<f32>, d2: vec4<f32>, d3: vec4<f32>, v: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(dot(d0, v), dot(d1, v), dot(d2, v), dot(d3, v));
}

// The sums of the components of the 4 dy vec4s.
fn sums(d0: vec4<f32>, d1: vec4<f32>, d2: vec4<f32>, d3: vec4<f32>) -> vec4<f32> {
    let one = vec4<f32>(1.0);
    return vec4<f32>(dot(d0, one), dot(d1, one), dot(d2, one), dot(d3, one));
}

// vec4 `i` of the input row starting at vec4 `row`, `q` vec4s long; zero past its end or
// when the row lies in the padding (`valid` false).
fn x_vec(row: u32, valid: bool, i: u32, q: u32) -> vec4<f32> {
    return select(vec4<f32>(0.0), dw_x4[row + min(i, q - 1u)], valid && i < q);
}

@compute @workgroup_size(WG_SIZE)
fn conv2d_dw_3x3(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    let oc_blocks = (p.cout + 3u) / 4u;
    if (idx >= p.chunks * oc_blocks * p.cin) {
        return;
    }
    let ic = idx % p.cin;
    let rest = idx / p.cin;
    let oc0 = (rest % oc_blocks) * 4u;
    let c = rest / oc_blocks;
    let units = chunk_units(c);
    // Rows are q vec4s long (padding 1: input and output widths are equal).
    let q = p.wout / 4u;
    let plane4 = p.hout * q;

    // a<ky><kx>: the weight (ky, kx) of the 4 output channels.
    var a00 = vec4<f32>(0.0);
    var a01 = vec4<f32>(0.0);
    var a02 = vec4<f32>(0.0);
    var a10 = vec4<f32>(0.0);
    var a11 = vec4<f32>(0.0);
    var a12 = vec4<f32>(0.0);
    var a20 = vec4<f32>(0.0);
    var a21 = vec4<f32>(0.0);
    var a22 = vec4<f32>(0.0);
    var bias = vec4<f32>(0.0);
    for (var u = units.x; u < units.y; u++) {
        let n = u / p.hout;
        let oy = u % p.hout;
        let dr = rows4(oc0, p.cout, plane4) + (n * p.cout * p.hout + oy) * q;
        let xplane = (n * p.cin + ic) * p.hin;
        // Input rows oy − 1, oy, oy + 1 (ky = 0, 1, 2).
        let v0 = oy > 0u;
        let v2 = oy + 1u < p.hin;
        let r0 = (xplane + max(oy, 1u) - 1u) * q;
        let r1 = (xplane + oy) * q;
        let r2 = (xplane + min(oy + 1u, p.hin - 1u)) * q;
        // The window: the vec4 left of the current one, the current one, the next one.
        var p0 = vec4<f32>(0.0);
        var p1 = vec4<f32>(0.0);
        var p2 = vec4<f32>(0.0);
        var c0 = x_vec(r0, v0, 0u, q);
        var c1 = x_vec(r1, true, 0u, q);
        var c2 = x_vec(r2, v2, 0u, q);
        for (var i = 0u; i < q; i++) {
            let n0 = x_vec(r0, v0, i + 1u, q);
            let n1 = x_vec(r1, true, i + 1u, q);
            let n2 = x_vec(r2, v2, i + 1u, q);
            let d0 = dw_dy4[dr[0] + i];
            let d1 = dw_dy4[dr[1] + i];
            let d2 = dw_dy4[dr[2] + i];
            let d3 = dw_dy4[dr[3] + i];
            // Column ox reads x at ox − 1, ox, ox + 1 for kx = 0, 1, 2.
            a00 += dots(d0, d1, d2, d3, vec4<f32>(p0.w, c0.xyz));
            a01 += dots(d0, d1, d2, d3, c0);
            a02 += dots(d0, d1, d2, d3, vec4<f32>(c0.yzw, n0.x));
            a10 += dots(d0, d1, d2, d3, vec4<f32>(p1.w, c1.xyz));
            a11 += dots(d0, d1, d2, d3, c1);
            a12 += dots(d0, d1, d2, d3, vec4<f32>(c1.yzw, n1.x));
            a20 += dots(d0, d1, d2, d3, vec4<f32>(p2.w, c2.xyz));
            a21 += dots(d0, d1, d2, d3, c2);
            a22 += dots(d0, d1, d2, d3, vec4<f32>(c2.yzw, n2.x));
            bias += sums(d0, d1, d2, d3);
            p0 = c0;
            p1 = c1;
            p2 = c2;
            c0 = n0;
            c1 = n1;
            c2 = n2;
        }
    }
    // dw of channel oc0 + j is at ((c·cout + oc0 + j)·cin + ic)·9 + ky·3 + kx.
    for (var j = 0u; j < min(p.cout - oc0, 4u); j++) {
        let at = ((c * p.cout + oc0 + j) * p.cin + ic) * 9u;
        dw[at] = a00[j];
        dw[at + 1u] = a01[j];
        dw[at + 2u] = a02[j];
        dw[at + 3u] = a10[j];
        dw[at + 4u] = a11[j];
        dw[at + 5u] = a12[j];
        dw[at + 6u] = a20[j];
        dw[at + 7u] = a21[j];
        dw[at + 8u] = a22[j];
    }
    if (ic == 0u) {
        store_db(c, oc0, bias);
    }
}

@compute @workgroup_size(WG_SIZE)
fn conv2d_dw_1x1(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    let oc_blocks = (p.cout + 3u) / 4u;
    let ic_blocks = (p.cin + 3u) / 4u;
    if (idx >= p.chunks * oc_blocks * ic_blocks) {
        return;
    }
    let ic0 = (idx % ic_blocks) * 4u;
    let rest = idx / ic_blocks;
    let oc0 = (rest % oc_blocks) * 4u;
    let c = rest / oc_blocks;
    // Planes are q vec4s long, units segments of seg_len / 4 of them.
    let q = p.hout * p.wout / 4u;
    let seg = p.seg_len / 4u;
    let segs = p.units / p.batch;
    let units = chunk_units(c);
    let dr = rows4(oc0, p.cout, q);
    let xr = rows4(ic0, p.cin, q);

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var bias = vec4<f32>(0.0);
    for (var u = units.x; u < units.y; u++) {
        let n = u / segs;
        let first = (u % segs) * seg;
        let last = min(first + seg, q);
        let dn = n * p.cout * q;
        let xn = n * p.cin * q;
        for (var i = first; i < last; i++) {
            let d0 = dw_dy4[dn + dr[0] + i];
            let d1 = dw_dy4[dn + dr[1] + i];
            let d2 = dw_dy4[dn + dr[2] + i];
            let d3 = dw_dy4[dn + dr[3] + i];
            let x0 = dw_x4[xn + xr[0] + i];
            let x1 = dw_x4[xn + xr[1] + i];
            let x2 = dw_x4[xn + xr[2] + i];
            let x3 = dw_x4[xn + xr[3] + i];
            // acc<j>: output channel oc0 + j, the 4 input channels.
            acc0 += vec4<f32>(dot(d0, x0), dot(d0, x1), dot(d0, x2), dot(d0, x3));
            acc1 += vec4<f32>(dot(d1, x0), dot(d1, x1), dot(d1, x2), dot(d1, x3));
            acc2 += vec4<f32>(dot(d2, x0), dot(d2, x1), dot(d2, x2), dot(d2, x3));
            acc3 += vec4<f32>(dot(d3, x0), dot(d3, x1), dot(d3, x2), dot(d3, x3));
            bias += sums(d0, d1, d2, d3);
        }
    }
    store_dw(c, oc0, ic0, p.cin, acc0);
    store_dw(c, oc0 + 1u, ic0, p.cin, acc1);
    store_dw(c, oc0 + 2u, ic0, p.cin, acc2);
    store_dw(c, oc0 + 3u, ic0, p.cin, acc3);
    if (ic0 == 0u) {
        store_db(c, oc0, bias);
    }
}

@compute @workgroup_size(WG_SIZE)
fn conv2d_dw_reduce(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    let weights = p.cout * p.cin * p.kernel * p.kernel;
    if (idx < weights) {
        var s = 0.0;
        for (var c = 0u; c < p.chunks; c++) {
            s += dw_partial[c * weights + idx];
        }
        dw_sum[idx] = s;
    } else if (idx < weights + p.cout) {
        let oc = idx - weights;
        var s = 0.0;
        for (var c = 0u; c < p.chunks; c++) {
            s += db_partial[c * p.cout + oc];
        }
        db_sum[oc] = s;
    }
}
