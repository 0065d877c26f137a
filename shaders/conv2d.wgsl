// 2D convolution (any kernel size, stride and zero padding) with a fused epilogue: bias (which
// carries the folded batch norm) and an optional ReLU.
//
// Each invocation computes a 4×4 register block: 4 output channels × 4 output positions of one
// sample, so every input tap it loads feeds 4 channels and every weight 4 positions. Neither
// entry point uses barriers or workgroup memory: that is what runs fastest on software Vulkan
// (lavapipe), where a barrier costs a coroutine switch per invocation.
//
// - `conv2d`: the general case. Blocks are 4 neighbouring columns of one output row. (A
//   separate unchecked path for blocks inside the image ran slower on lavapipe: 5.0 against
//   6.9 GFLOP/s for the 3×3 layers, as both sides of the branch are executed.)
// - `conv2d_3x3`: stride-1 3×3 convolutions (any padding). Per input row it loads the 6 taps
//   the block's 4 columns share once, instead of 12 separately bounds-checked taps.
// - `conv2d_1x1`: stride-1, unpadded 1×1 convolutions (a matrix product per sample). Blocks are
//   4 consecutive pixels of the flattened plane, loaded without bounds checks except at its end.
//
// Layouts: x is N×Cin×H×W, w is Cout×Cin×K×K (PyTorch), b is Cout, y is N×Cout×Hout×Wout.

struct Conv2dParams {
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
    relu: u32,
    // Blocks of 4 output positions per row (`conv2d`) or per plane (`conv2d_1x1`).
    col_blocks: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Conv2dParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// One input tap, zero outside the image (the padding).
fn tap(row: u32, ix: i32) -> f32 {
    if (ix < 0 || ix >= i32(p.win)) {
        return 0.0;
    }
    return x[row + u32(ix)];
}

// Adds the bias, applies the ReLU and stores up to 4 outputs starting at `at`, of which
// `count` are inside the row or plane.
fn store(oc: u32, at: u32, count: u32, acc: vec4<f32>) {
    if (oc >= p.cout) {
        return;
    }
    for (var j = 0u; j < min(count, 4u); j++) {
        var v = acc[j] + b[oc];
        if (p.relu != 0u) {
            v = max(v, 0.0);
        }
        y[at + j] = v;
    }
}

// Stores the block's 4 output channels, `plane_out` apart, starting at `at`.
fn store_block(oc0: u32, at: u32, plane_out: u32, count: u32, acc0: vec4<f32>, acc1: vec4<f32>, acc2: vec4<f32>, acc3: vec4<f32>) {
    store(oc0, at, count, acc0);
    store(oc0 + 1u, at + plane_out, count, acc1);
    store(oc0 + 2u, at + 2u * plane_out, count, acc2);
    store(oc0 + 3u, at + 3u * plane_out, count, acc3);
}

// Where the weights of the block's 4 output channels start, `taps` weights per channel. Rows
// past the last channel are clamped (their results are never stored).
fn weight_rows(oc0: u32, taps: u32) -> vec4<u32> {
    let last = p.cout - 1u;
    return vec4<u32>(min(oc0, last), min(oc0 + 1u, last), min(oc0 + 2u, last), min(oc0 + 3u, last)) * taps;
}

fn linear_index(wid: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * groups.x) * WG_SIZE + lid;
}

// The output block of `conv2d` and `conv2d_3x3`: 4 channels from `oc0` × 4 columns from `ox0`
// of row `oy` of sample `n`.
struct RowBlock {
    n: u32,
    oc0: u32,
    oy: u32,
    ox0: u32,
}

// Invocations of `conv2d` and `conv2d_3x3`: one per row block.
fn row_blocks() -> u32 {
    return p.batch * ((p.cout + 3u) / 4u) * p.hout * p.col_blocks;
}

fn row_block(idx: u32) -> RowBlock {
    let oc_blocks = (p.cout + 3u) / 4u;
    var t = idx / p.col_blocks;
    let oy = t % p.hout;
    t = t / p.hout;
    return RowBlock(t / oc_blocks, (t % oc_blocks) * 4u, oy, (idx % p.col_blocks) * 4u);
}

// Stores a row block's accumulators.
fn store_row_block(r: RowBlock, acc0: vec4<f32>, acc1: vec4<f32>, acc2: vec4<f32>, acc3: vec4<f32>) {
    let at = ((r.n * p.cout + r.oc0) * p.hout + r.oy) * p.wout + r.ox0;
    store_block(r.oc0, at, p.hout * p.wout, p.wout - r.ox0, acc0, acc1, acc2, acc3);
}

@compute @workgroup_size(WG_SIZE)
fn conv2d(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    if (idx >= row_blocks()) {
        return;
    }
    let r = row_block(idx);
    let n = r.n;
    let oy = r.oy;
    let ox0 = r.ox0;

    let k = p.kernel;
    let wr = weight_rows(r.oc0, p.cin * k * k);
    let step = i32(p.stride);

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var ic = 0u; ic < p.cin; ic++) {
        let plane = (n * p.cin + ic) * p.hin;
        for (var ky = 0u; ky < k; ky++) {
            let iy = i32(oy * p.stride + ky) - i32(p.pad);
            if (iy < 0 || iy >= i32(p.hin)) {
                continue;
            }
            let row = (plane + u32(iy)) * p.win;
            for (var kx = 0u; kx < k; kx++) {
                let ix = i32(ox0 * p.stride + kx) - i32(p.pad);
                let xv = vec4<f32>(tap(row, ix), tap(row, ix + step), tap(row, ix + 2 * step), tap(row, ix + 3 * step));
                let wi = (ic * k + ky) * k + kx;
                acc0 += w[wr[0] + wi] * xv;
                acc1 += w[wr[1] + wi] * xv;
                acc2 += w[wr[2] + wi] * xv;
                acc3 += w[wr[3] + wi] * xv;
            }
        }
    }
    store_row_block(r, acc0, acc1, acc2, acc3);
}

@compute @workgroup_size(WG_SIZE)
fn conv2d_3x3(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    if (idx >= row_blocks()) {
        return;
    }
    let r = row_block(idx);
    let n = r.n;
    let oy = r.oy;
    let ox0 = r.ox0;

    let wr = weight_rows(r.oc0, p.cin * 9u);
    let left = i32(ox0) - i32(p.pad);

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var ic = 0u; ic < p.cin; ic++) {
        let plane = (n * p.cin + ic) * p.hin;
        for (var ky = 0u; ky < 3u; ky++) {
            let iy = i32(oy + ky) - i32(p.pad);
            if (iy < 0 || iy >= i32(p.hin)) {
                continue;
            }
            let row = (plane + u32(iy)) * p.win;
            let t0 = tap(row, left);
            let t1 = tap(row, left + 1);
            let t2 = tap(row, left + 2);
            let t3 = tap(row, left + 3);
            let t4 = tap(row, left + 4);
            let t5 = tap(row, left + 5);
            let xa = vec4<f32>(t0, t1, t2, t3);
            let xb = vec4<f32>(t1, t2, t3, t4);
            let xc = vec4<f32>(t2, t3, t4, t5);
            let wi = (ic * 3u + ky) * 3u;
            acc0 += w[wr[0] + wi] * xa + w[wr[0] + wi + 1u] * xb + w[wr[0] + wi + 2u] * xc;
            acc1 += w[wr[1] + wi] * xa + w[wr[1] + wi + 1u] * xb + w[wr[1] + wi + 2u] * xc;
            acc2 += w[wr[2] + wi] * xa + w[wr[2] + wi + 1u] * xb + w[wr[2] + wi + 2u] * xc;
            acc3 += w[wr[3] + wi] * xa + w[wr[3] + wi + 1u] * xb + w[wr[3] + wi + 2u] * xc;
        }
    }
    store_row_block(r, acc0, acc1, acc2, acc3);
}

@compute @workgroup_size(WG_SIZE)
fn conv2d_1x1(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = linear_index(wid, groups, lid);
    let oc_blocks = (p.cout + 3u) / 4u;
    if (idx >= p.batch * oc_blocks * p.col_blocks) {
        return;
    }
    let pixels = p.hout * p.wout;
    let px0 = (idx % p.col_blocks) * 4u;
    let t = idx / p.col_blocks;
    let oc0 = (t % oc_blocks) * 4u;
    let n = t / oc_blocks;

    let wr = weight_rows(oc0, p.cin);
    // Positions past the end of the plane re-read its last pixel (their results are dropped).
    let end = pixels - 1u;
    let o1 = min(px0 + 1u, end) - px0;
    let o2 = min(px0 + 2u, end) - px0;
    let o3 = min(px0 + 3u, end) - px0;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var at = n * p.cin * pixels + px0;
    for (var ic = 0u; ic < p.cin; ic++) {
        let xv = vec4<f32>(x[at], x[at + o1], x[at + o2], x[at + o3]);
        acc0 += w[wr[0] + ic] * xv;
        acc1 += w[wr[1] + ic] * xv;
        acc2 += w[wr[2] + ic] * xv;
        acc3 += w[wr[3] + ic] * xv;
        at += pixels;
    }
    store_block(oc0, (n * p.cout + oc0) * pixels + px0, pixels, pixels - px0, acc0, acc1, acc2, acc3);
}
