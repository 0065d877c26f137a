// TEMPORARY (until the tuned conv2d_grad/linear_grad kernels land): the weight and bias
// gradients of a convolution (a fully connected layer is a 1×1 convolution over a 1×1 image),
// summed over the batch. Invocations 0..Cout·Cin·k·k each own one weight; the next Cout own
// one bias each.
// Layouts: x is N×Cin×H×W, dy is N×Cout×Hout×Wout, dw is Cout×Cin×k×k, db is Cout.

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
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn naive_grad_weight(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    let weights = p.cout * p.cin * p.kernel * p.kernel;
    let out_plane = p.hout * p.wout;
    if (idx >= weights) {
        let oc = idx - weights;
        if (oc >= p.cout) {
            return;
        }
        var s = 0.0;
        for (var n = 0u; n < p.batch; n++) {
            for (var i = 0u; i < out_plane; i++) {
                s += dy[(n * p.cout + oc) * out_plane + i];
            }
        }
        db[oc] = s;
        return;
    }
    let kx = idx % p.kernel;
    let ky = (idx / p.kernel) % p.kernel;
    let ic = (idx / (p.kernel * p.kernel)) % p.cin;
    let oc = idx / (p.kernel * p.kernel * p.cin);
    var s = 0.0;
    for (var n = 0u; n < p.batch; n++) {
        for (var oy = 0u; oy < p.hout; oy++) {
            let iy = i32(oy * p.stride + ky) - i32(p.pad);
            if (iy < 0 || iy >= i32(p.hin)) {
                continue;
            }
            for (var ox = 0u; ox < p.wout; ox++) {
                let ix = i32(ox * p.stride + kx) - i32(p.pad);
                if (ix < 0 || ix >= i32(p.win)) {
                    continue;
                }
                s += dy[((n * p.cout + oc) * p.hout + oy) * p.wout + ox]
                    * x[((n * p.cin + ic) * p.hin + u32(iy)) * p.win + u32(ix)];
            }
        }
    }
    dw[idx] = s;
}
