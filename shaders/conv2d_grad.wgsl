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
// each value loaded feeds several FMAs (on lavapipe each SIMD lane gathers its loads one by
// one, and loads, not FMAs, set the pace):
//
// - `conv2d_dx`: any geometry; 4 input channels × 4 neighbouring columns of one input row.
// - `conv2d_dx_3x3`: stride-1 3×3; 4 input channels × 8 columns: per dy row it loads the 10
//   taps the 8 columns share once.
// - `conv2d_dx_1x1`: stride-1 unpadded 1×1; 4 input channels × 8 pixels of the flattened plane.
// - `conv2d_dw`: any geometry; 4 output channels × 4 flattened (ic, ky, kx) taps.
// - `conv2d_dw_3x3`: stride-1 3×3; 4 output channels × the 9 taps of one input channel. Along
//   an output row the 3×3 input window slides: per position it loads 4 dy values and 3 new
//   input values for 36 FMAs.
// - `conv2d_dw_1x1`: stride-1 unpadded 1×1; 4 output × 4 input channels.
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

// dy at output column `ox` of the row starting at `row`, zero outside it.
fn dy_tap(row: u32, ox: i32) -> f32 {
    if (ox < 0 || ox >= i32(p.wout)) {
        return 0.0;
    }
    return dx_dy[row + u32(ox)];
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
    let wr = rows4(b.ic0, p.cin, 9u);
    // Column c of the block reads dy at ox = ix0 + c + pad − kx: tap `c + 2 − kx` of the 10
    // taps from `left`.
    let left = i32(b.ix0 + p.pad) - 2;

    var lo0 = vec4<f32>(0.0);
    var lo1 = vec4<f32>(0.0);
    var lo2 = vec4<f32>(0.0);
    var lo3 = vec4<f32>(0.0);
    var hi0 = vec4<f32>(0.0);
    var hi1 = vec4<f32>(0.0);
    var hi2 = vec4<f32>(0.0);
    var hi3 = vec4<f32>(0.0);
    for (var oc = 0u; oc < p.cout; oc++) {
        let plane = (b.n * p.cout + oc) * p.hout;
        let wo = oc * p.cin * 9u;
        for (var ky = 0u; ky < 3u; ky++) {
            let oy = i32(b.iy + p.pad) - i32(ky);
            if (oy < 0 || oy >= i32(p.hout)) {
                continue;
            }
            let row = (plane + u32(oy)) * p.wout;
            let t0 = dy_tap(row, left);
            let t1 = dy_tap(row, left + 1);
            let t2 = dy_tap(row, left + 2);
            let t3 = dy_tap(row, left + 3);
            let t4 = dy_tap(row, left + 4);
            let t5 = dy_tap(row, left + 5);
            let t6 = dy_tap(row, left + 6);
            let t7 = dy_tap(row, left + 7);
            let t8 = dy_tap(row, left + 8);
            let t9 = dy_tap(row, left + 9);
            // kx = 0, 1, 2 for the low and high 4 columns.
            let la = vec4<f32>(t2, t3, t4, t5);
            let lb = vec4<f32>(t1, t2, t3, t4);
            let lc = vec4<f32>(t0, t1, t2, t3);
            let ha = vec4<f32>(t6, t7, t8, t9);
            let hb = vec4<f32>(t5, t6, t7, t8);
            let hc = vec4<f32>(t4, t5, t6, t7);
            let wi = wo + ky * 3u;
            var w0 = dx_w[wr[0] + wi];
            var w1 = dx_w[wr[0] + wi + 1u];
            var w2 = dx_w[wr[0] + wi + 2u];
            lo0 += w0 * la + w1 * lb + w2 * lc;
            hi0 += w0 * ha + w1 * hb + w2 * hc;
            w0 = dx_w[wr[1] + wi];
            w1 = dx_w[wr[1] + wi + 1u];
            w2 = dx_w[wr[1] + wi + 2u];
            lo1 += w0 * la + w1 * lb + w2 * lc;
            hi1 += w0 * ha + w1 * hb + w2 * hc;
            w0 = dx_w[wr[2] + wi];
            w1 = dx_w[wr[2] + wi + 1u];
            w2 = dx_w[wr[2] + wi + 2u];
            lo2 += w0 * la + w1 * lb + w2 * lc;
            hi2 += w0 * ha + w1 * hb + w2 * hc;
            w0 = dx_w[wr[3] + wi];
            w1 = dx_w[wr[3] + wi + 1u];
            w2 = dx_w[wr[3] + wi + 2u];
            lo3 += w0 * la + w1 * lb + w2 * lc;
            hi3 += w0 * ha + w1 * hb + w2 * hc;
        }
    }
    let plane = p.hin * p.win;
    let at = ((b.n * p.cin + b.ic0) * p.hin + b.iy) * p.win + b.ix0;
    let count = p.win - b.ix0;
    store_dx_block(b.ic0, at, plane, count, lo0, lo1, lo2, lo3);
    if (count > 4u) {
        store_dx_block(b.ic0, at + 4u, plane, count - 4u, hi0, hi1, hi2, hi3);
    }
}

@compute @workgroup_size(WG_SIZE)
fn conv2d_dx_1x1(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    let ic_blocks = (p.cin + 3u) / 4u;
    if (idx >= p.batch * ic_blocks * p.col_blocks) {
        return;
    }
    let pixels = p.hout * p.wout;
    let px0 = (idx % p.col_blocks) * 8u;
    let t = idx / p.col_blocks;
    let ic0 = (t % ic_blocks) * 4u;
    let n = t / ic_blocks;
    // Weight w[oc, ic] is at oc·cin + ic.
    let wc = rows4(ic0, p.cin, 1u);
    // Positions past the end of the plane re-read its last pixel (their results are dropped).
    let end = pixels - 1u;
    let o1 = min(px0 + 1u, end) - px0;
    let o2 = min(px0 + 2u, end) - px0;
    let o3 = min(px0 + 3u, end) - px0;
    let o4 = min(px0 + 4u, end) - px0;
    let o5 = min(px0 + 5u, end) - px0;
    let o6 = min(px0 + 6u, end) - px0;
    let o7 = min(px0 + 7u, end) - px0;

    var lo0 = vec4<f32>(0.0);
    var lo1 = vec4<f32>(0.0);
    var lo2 = vec4<f32>(0.0);
    var lo3 = vec4<f32>(0.0);
    var hi0 = vec4<f32>(0.0);
    var hi1 = vec4<f32>(0.0);
    var hi2 = vec4<f32>(0.0);
    var hi3 = vec4<f32>(0.0);
    var at = n * p.cout * pixels + px0;
    var wo = 0u;
    for (var oc = 0u; oc < p.cout; oc++) {
        let dl = vec4<f32>(dx_dy[at], dx_dy[at + o1], dx_dy[at + o2], dx_dy[at + o3]);
        let dh = vec4<f32>(dx_dy[at + o4], dx_dy[at + o5], dx_dy[at + o6], dx_dy[at + o7]);
        let w0 = dx_w[wo + wc[0]];
        let w1 = dx_w[wo + wc[1]];
        let w2 = dx_w[wo + wc[2]];
        let w3 = dx_w[wo + wc[3]];
        lo0 += w0 * dl;
        hi0 += w0 * dh;
        lo1 += w1 * dl;
        hi1 += w1 * dh;
        lo2 += w2 * dl;
        hi2 += w2 * dh;
        lo3 += w3 * dl;
        hi3 += w3 * dh;
        at += pixels;
        wo += p.cin;
    }
    let at_dx = (n * p.cin + ic0) * pixels + px0;
    let count = pixels - px0;
    store_dx_block(ic0, at_dx, pixels, count, lo0, lo1, lo2, lo3);
    if (count > 4u) {
        store_dx_block(ic0, at_dx + 4u, pixels, count - 4u, hi0, hi1, hi2, hi3);
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
    let pad = i32(p.pad);
    let units = chunk_units(c);

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
        let dr = rows4(oc0, p.cout, p.hout * p.wout) + ((n * p.cout) * p.hout + oy) * p.wout;
        let plane = (n * p.cin + ic) * p.hin;
        let iy0 = i32(oy) - pad;
        let v0 = iy0 >= 0 && iy0 < i32(p.hin);
        let v1 = iy0 + 1 >= 0 && iy0 + 1 < i32(p.hin);
        let v2 = iy0 + 2 >= 0 && iy0 + 2 < i32(p.hin);
        let r0 = (plane + u32(max(iy0, 0))) * p.win;
        let r1 = (plane + u32(max(iy0 + 1, 0))) * p.win;
        let r2 = (plane + u32(max(iy0 + 2, 0))) * p.win;
        // The window's first two columns; each position loads the third.
        var x0 = vec3<f32>(x_tap(r0, v0, -pad), x_tap(r1, v1, -pad), x_tap(r2, v2, -pad));
        var x1 = vec3<f32>(x_tap(r0, v0, 1 - pad), x_tap(r1, v1, 1 - pad), x_tap(r2, v2, 1 - pad));
        for (var ox = 0u; ox < p.wout; ox++) {
            let ix = i32(ox) + 2 - pad;
            let x2 = vec3<f32>(x_tap(r0, v0, ix), x_tap(r1, v1, ix), x_tap(r2, v2, ix));
            let d = vec4<f32>(dw_dy[dr[0] + ox], dw_dy[dr[1] + ox], dw_dy[dr[2] + ox], dw_dy[dr[3] + ox]);
            a00 += x0[0] * d;
            a01 += x1[0] * d;
            a02 += x2[0] * d;
            a10 += x0[1] * d;
            a11 += x1[1] * d;
            a12 += x2[1] * d;
            a20 += x0[2] * d;
            a21 += x1[2] * d;
            a22 += x2[2] * d;
            bias += d;
            x0 = x1;
            x1 = x2;
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
    let pixels = p.hout * p.wout;
    let segs = p.units / p.batch;
    let units = chunk_units(c);
    let dr = rows4(oc0, p.cout, pixels);
    let xr = rows4(ic0, p.cin, pixels);

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var bias = vec4<f32>(0.0);
    for (var u = units.x; u < units.y; u++) {
        let n = u / segs;
        let first = (u % segs) * p.seg_len;
        let last = min(first + p.seg_len, pixels);
        let dn = n * p.cout * pixels;
        let xn = n * p.cin * pixels;
        for (var px = first; px < last; px++) {
            let d = vec4<f32>(dw_dy[dn + dr[0] + px], dw_dy[dn + dr[1] + px], dw_dy[dn + dr[2] + px], dw_dy[dn + dr[3] + px]);
            let xv = vec4<f32>(dw_x[xn + xr[0] + px], dw_x[xn + xr[1] + px], dw_x[xn + xr[2] + px], dw_x[xn + xr[3] + px]);
            acc0 += d[0] * xv;
            acc1 += d[1] * xv;
            acc2 += d[2] * xv;
            acc3 += d[3] * xv;
            bias += d;
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
