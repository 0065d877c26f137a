// 2D convolution (any kernel size, stride and zero padding) with a fused epilogue: bias (which
// carries the folded batch norm) and an optional ReLU.
//
// Each invocation computes a 4×4 register block: 4 output channels × 4 neighbouring output
// columns of one row of one sample. It needs no barriers or workgroup memory, which is what runs
// fastest on software Vulkan (lavapipe), and every input tap it loads feeds 4 channels.
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
    // Blocks of 4 output columns per row: ceil(wout / 4).
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

fn store(n: u32, oc: u32, oy: u32, ox0: u32, acc: vec4<f32>) {
    if (oc >= p.cout) {
        return;
    }
    let base = ((n * p.cout + oc) * p.hout + oy) * p.wout;
    for (var j = 0u; j < 4u; j++) {
        let ox = ox0 + j;
        if (ox < p.wout) {
            var v = acc[j] + b[oc];
            if (p.relu != 0u) {
                v = max(v, 0.0);
            }
            y[base + ox] = v;
        }
    }
}

@compute @workgroup_size(WG_SIZE)
fn conv2d(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    let oc_blocks = (p.cout + 3u) / 4u;
    if (idx >= p.batch * oc_blocks * p.hout * p.col_blocks) {
        return;
    }
    let cb = idx % p.col_blocks;
    var t = idx / p.col_blocks;
    let oy = t % p.hout;
    t = t / p.hout;
    let oc0 = (t % oc_blocks) * 4u;
    let n = t / oc_blocks;
    let ox0 = cb * 4u;

    let k = p.kernel;
    let taps = p.cin * k * k;
    // Rows past the last channel are clamped (their results are never stored).
    let last = p.cout - 1u;
    let w0 = min(oc0, last) * taps;
    let w1 = min(oc0 + 1u, last) * taps;
    let w2 = min(oc0 + 2u, last) * taps;
    let w3 = min(oc0 + 3u, last) * taps;
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
                acc0 += w[w0 + wi] * xv;
                acc1 += w[w1 + wi] * xv;
                acc2 += w[w2 + wi] * xv;
                acc3 += w[w3 + wi] * xv;
            }
        }
    }
    store(n, oc0, oy, ox0, acc0);
    store(n, oc0 + 1u, oy, ox0, acc1);
    store(n, oc0 + 2u, oy, ox0, acc2);
    store(n, oc0 + 3u, oy, ox0, acc3);
}
