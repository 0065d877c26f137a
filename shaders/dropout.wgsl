// Dropout, forward and backward (the same map): element i is kept when
// pcg_hash(i ^ pcg_hash(key)) >= threshold and then scaled by `scale` = 1/(1 − rate), else
// zeroed. The hash and the integer compare are those of `cpu::backward::dropout`, so both
// backends draw the same mask bit for bit. `key` mixes the step's seed with the op's ordinal;
// threshold 0 and scale 1 make the identity (no dropout).

struct DropoutParams {
    len: u32,
    key: u32,
    threshold: u32,
    scale: f32,
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: DropoutParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// PCG output permutation (Jarzynski and Olano, "Hash Functions for GPU Rendering"); u32
// arithmetic wraps, as `wrapping_mul`/`wrapping_add` do on the CPU.
fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

@compute @workgroup_size(WG_SIZE)
fn dropout(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.len) {
        return;
    }
    var v = 0.0;
    if (pcg_hash(idx ^ pcg_hash(p.key)) >= p.threshold) {
        v = x[idx] * p.scale;
    }
    if (p.accumulate != 0u) {
        v = y[idx] + v;
    }
    y[idx] = v;
}
