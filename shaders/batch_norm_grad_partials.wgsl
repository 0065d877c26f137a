// Backward of training-mode batch norm, step 1 of 3: per channel and chunk (as in
// batch_norm_partials.wgsl) the partial sums Σdy and Σdy·(x − μ_B).
// Layouts: x and dy are N×C×H×W; mean is C; partials is C×groups×2.

struct BatchNormParams {
    batch: u32,
    channels: u32,
    plane: u32,
    groups: u32,
    chunk: u32,
    accumulate: u32,
    momentum: f32,
    unbias: f32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: BatchNormParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

// Tree reduction of one vec2 per invocation; WG_SIZE must be a power of two (at most 256).
var<workgroup> sums: array<vec2<f32>, 256>;

fn reduce(lid: u32, v: vec2<f32>) -> vec2<f32> {
    sums[lid] = v;
    workgroupBarrier();
    for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            sums[lid] += sums[lid + s];
        }
        workgroupBarrier();
    }
    return sums[0];
}

@compute @workgroup_size(WG_SIZE)
fn bn_grad_partials(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let group = wid.x + wid.y * groups.x;
    if (group >= p.channels * p.groups) {
        return;
    }
    let c = group / p.groups;
    let start = (group % p.groups) * p.chunk;
    let end = min(start + p.chunk, p.batch * p.plane);
    let mu = mean[c];
    var acc = vec2<f32>(0.0, 0.0);
    // (n, j) of value i = n·plane + j, advanced without a division per value.
    let step_n = WG_SIZE / p.plane;
    let step_j = WG_SIZE % p.plane;
    var n = (start + lid) / p.plane;
    var j = (start + lid) % p.plane;
    for (var i = start + lid; i < end; i += WG_SIZE) {
        let at = (n * p.channels + c) * p.plane + j;
        let g = dy[at];
        acc += vec2<f32>(g, g * (x[at] - mu));
        n += step_n;
        j += step_j;
        if (j >= p.plane) {
            j -= p.plane;
            n += 1u;
        }
    }
    let total = reduce(lid, acc);
    if (lid == 0u) {
        partials[2u * group] = total.x;
        partials[2u * group + 1u] = total.y;
    }
}
