// TEMPORARY (until the tuned conv2d_grad/linear_grad kernels land): the input gradient of a
// convolution (a fully connected layer is a 1×1 convolution over a 1×1 image), one invocation
// per input element, gathering every output tap that read it.
// Layouts: dy is N×Cout×Hout×Wout, w is Cout×Cin×k×k, dx is N×Cin×H×W.

struct NaiveGradParams {
    batch: u32,
    cin: u32,
    cout: u32,
    hin: u32,
    win: u32,
    hout: u32,
    wout: u32,
    kernel: u32,
    stride: u32,
    pad: u32,
    accumulate: u32,
    _pad0: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: NaiveGradParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn naive_grad_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.batch * p.cin * p.hin * p.win) {
        return;
    }
    let ix = idx % p.win;
    let iy = (idx / p.win) % p.hin;
    let ic = (idx / (p.win * p.hin)) % p.cin;
    let n = idx / (p.win * p.hin * p.cin);
    var g = 0.0;
    for (var ky = 0u; ky < p.kernel; ky++) {
        let ty = iy + p.pad;
        if (ty < ky || (ty - ky) % p.stride != 0u || (ty - ky) / p.stride >= p.hout) {
            continue;
        }
        let oy = (ty - ky) / p.stride;
        for (var kx = 0u; kx < p.kernel; kx++) {
            let tx = ix + p.pad;
            if (tx < kx || (tx - kx) % p.stride != 0u || (tx - kx) / p.stride >= p.wout) {
                continue;
            }
            let ox = (tx - kx) / p.stride;
            for (var oc = 0u; oc < p.cout; oc++) {
                g += dy[((n * p.cout + oc) * p.hout + oy) * p.wout + ox]
                    * w[((oc * p.cin + ic) * p.kernel + ky) * p.kernel + kx];
            }
        }
    }
    if (p.accumulate != 0u) {
        g = dx[idx] + g;
    }
    dx[idx] = g;
}
