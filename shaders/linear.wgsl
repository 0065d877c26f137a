// Fully connected layer with fused bias and optional ReLU: y = relu?(x·Wᵀ + b).
//
// Each invocation computes a 4×4 block: 4 outputs × 4 samples, so every weight it loads is used
// for 4 samples (at batch 1 the block degenerates to 4 outputs). Barrier-free, like conv2d.
//
// Layouts: x is N×I, w is O×I (PyTorch), b is O, y is N×O.

struct LinearParams {
    batch: u32,
    inputs: u32,
    outputs: u32,
    relu: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: LinearParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn store(o: u32, n0: u32, acc: vec4<f32>) {
    if (o >= p.outputs) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let n = n0 + j;
        if (n < p.batch) {
            var v = acc[j] + b[o];
            if (p.relu != 0u) {
                v = max(v, 0.0);
            }
            y[n * p.outputs + o] = v;
        }
    }
}

@compute @workgroup_size(WG_SIZE)
fn linear(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    let out_blocks = (p.outputs + 3u) / 4u;
    let batch_blocks = (p.batch + 3u) / 4u;
    if (idx >= out_blocks * batch_blocks) {
        return;
    }
    let o0 = (idx % out_blocks) * 4u;
    let n0 = (idx / out_blocks) * 4u;
    // Rows past the end are clamped; their results are never stored.
    let lo = p.outputs - 1u;
    let ln = p.batch - 1u;
    let w0 = min(o0, lo) * p.inputs;
    let w1 = min(o0 + 1u, lo) * p.inputs;
    let w2 = min(o0 + 2u, lo) * p.inputs;
    let w3 = min(o0 + 3u, lo) * p.inputs;
    let x0 = min(n0, ln) * p.inputs;
    let x1 = min(n0 + 1u, ln) * p.inputs;
    let x2 = min(n0 + 2u, ln) * p.inputs;
    let x3 = min(n0 + 3u, ln) * p.inputs;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var i = 0u; i < p.inputs; i++) {
        let xv = vec4<f32>(x[x0 + i], x[x1 + i], x[x2 + i], x[x3 + i]);
        acc0 += w[w0 + i] * xv;
        acc1 += w[w1 + i] * xv;
        acc2 += w[w2 + i] * xv;
        acc3 += w[w3 + i] * xv;
    }
    store(o0, n0, acc0);
    store(o0 + 1u, n0, acc1);
    store(o0 + 2u, n0, acc2);
    store(o0 + 3u, n0, acc3);
}
