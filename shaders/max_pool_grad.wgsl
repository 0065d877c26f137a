// Backward of max pooling: each window's gradient goes to its first strict maximum (row-major,
// as the forward and the CPU pick it). Two entry points over the same bindings:
// - max_pool_grad_cells, for windows that do not overlap (kernel ≤ stride): one invocation per
//   stride×stride cell of the input (the window at its top-left, if any), which writes every
//   element of its cell, so each input element is written exactly once;
// - max_pool_grad, for any windows: one invocation per input element, gathering the gradient of
//   every window whose maximum it is, in row-major window order (no atomics, fixed sum order).
// Layouts: x and dx are P×H×W, dy is P×Hout×Wout, with P = N·C planes.

struct MaxPoolGradParams {
    planes: u32,
    hin: u32,
    win: u32,
    hout: u32,
    wout: u32,
    kernel: u32,
    stride: u32,
    accumulate: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: MaxPoolGradParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

// Windows covering input coordinate `i` along one axis: [first, last] (empty when first > last).
fn covering(i: u32, outs: u32) -> vec2<u32> {
    var first = 0u;
    if (i + 1u > p.kernel) {
        first = (i + 1u - p.kernel + p.stride - 1u) / p.stride;
    }
    let last = min(i / p.stride, outs - 1u);
    return vec2<u32>(first, last);
}

@compute @workgroup_size(WG_SIZE)
fn max_pool_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.planes * p.hin * p.win) {
        return;
    }
    let ix = idx % p.win;
    let iy = (idx / p.win) % p.hin;
    let plane = idx / (p.win * p.hin);
    let src = plane * p.hin * p.win;
    let rows = covering(iy, p.hout);
    let cols = covering(ix, p.wout);
    var g = 0.0;
    for (var oy = rows.x; oy <= rows.y; oy++) {
        for (var ox = cols.x; ox <= cols.y; ox++) {
            let base = src + oy * p.stride * p.win + ox * p.stride;
            var best = base;
            var m = x[base];
            for (var ky = 0u; ky < p.kernel; ky++) {
                for (var kx = 0u; kx < p.kernel; kx++) {
                    let at = base + ky * p.win + kx;
                    if (x[at] > m) {
                        m = x[at];
                        best = at;
                    }
                }
            }
            if (best == idx) {
                g += dy[(plane * p.hout + oy) * p.wout + ox];
            }
        }
    }
    if (p.accumulate != 0u) {
        g = dx[idx] + g;
    }
    dx[idx] = g;
}

@compute @workgroup_size(WG_SIZE)
fn max_pool_grad_cells(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    let cols = (p.win + p.stride - 1u) / p.stride;
    let rows = (p.hin + p.stride - 1u) / p.stride;
    if (idx >= p.planes * rows * cols) {
        return;
    }
    let cx = idx % cols;
    let cy = (idx / cols) % rows;
    let plane = idx / (cols * rows);
    let base = plane * p.hin * p.win + cy * p.stride * p.win + cx * p.stride;
    // The window's first maximum, if this cell holds a window.
    var best = 0xffffffffu;
    var g = 0.0;
    if (cy < p.hout && cx < p.wout) {
        best = base;
        var m = x[base];
        for (var ky = 0u; ky < p.kernel; ky++) {
            for (var kx = 0u; kx < p.kernel; kx++) {
                let at = base + ky * p.win + kx;
                if (x[at] > m) {
                    m = x[at];
                    best = at;
                }
            }
        }
        g = dy[(plane * p.hout + cy) * p.wout + cx];
    }
    let h = min(p.stride, p.hin - cy * p.stride);
    let w = min(p.stride, p.win - cx * p.stride);
    for (var ry = 0u; ry < h; ry++) {
        for (var rx = 0u; rx < w; rx++) {
            let at = base + ry * p.win + rx;
            var v = 0.0;
            if (at == best) {
                v = g;
            }
            if (p.accumulate != 0u) {
                v = dx[at] + v;
            }
            dx[at] = v;
        }
    }
}
