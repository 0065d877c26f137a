// Backward of max pooling, one invocation per input element (a gather, so overlapping windows
// need no atomics and the sum order is fixed): the element receives the gradient of every
// window whose first strict maximum (row-major, as the forward and the CPU pick it) it is,
// summed over windows in row-major order.
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
