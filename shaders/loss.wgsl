// The training losses (train::loss) of one batch: per sample its loss, and the gradient with
// respect to the prediction. One invocation per sample. With d = scale·(p − g) over the
// sample's `dims` coordinates (millimetres; see train/loss.rs):
//   kind 0, MSE:               loss Σd²,             grad 2d·scale/N
//   kind 1, smooth L1:         loss Σsmooth(d),      grad clamp(d, ±1)·scale/N
//   kind 2, max-out smooth L1: loss dims·max smooth(d), grad only at the first arg-max:
//                              dims·clamp(d, ±1)·scale/N
// The batch loss is the mean of the per-sample losses (summed on the host).
// Layouts: pred, truth, grad are N×dims; loss is N.

struct LossParams {
    batch: u32,
    dims: u32,
    kind: u32,
    scale: f32,
    inv_batch: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: LossParams;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> truth: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

fn smooth_l1(x: f32) -> f32 {
    if (abs(x) <= 1.0) {
        return 0.5 * x * x;
    }
    return abs(x) - 0.5;
}

@compute @workgroup_size(WG_SIZE)
fn loss_grad(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let n = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (n >= p.batch) {
        return;
    }
    let base = n * p.dims;
    var total = 0.0;
    var best = -1.0;
    var at = 0u;
    var at_d = 0.0;
    for (var k = 0u; k < p.dims; k++) {
        let d = p.scale * (pred[base + k] - truth[base + k]);
        switch p.kind {
            case 0u: {
                total += d * d;
                grad[base + k] = 2.0 * d * p.scale * p.inv_batch;
            }
            case 1u: {
                total += smooth_l1(d);
                grad[base + k] = clamp(d, -1.0, 1.0) * p.scale * p.inv_batch;
            }
            default: {
                let s = smooth_l1(d);
                // smooth ≥ 0, so -1 loses to every coordinate and the first maximum wins ties.
                if (s > best) {
                    best = s;
                    at = k;
                    at_d = d;
                }
                grad[base + k] = 0.0;
            }
        }
    }
    if (p.kind >= 2u) {
        total = f32(p.dims) * best;
        grad[base + at] = f32(p.dims) * clamp(at_d, -1.0, 1.0) * p.scale * p.inv_batch;
    }
    loss[n] = total;
}
