// Arithmetic peak of the adapter: long chains of fused multiply-adds with no memory traffic
// but one store per invocation. `hourhand bench` reports the network's GFLOP/s against it.
//
// Eight independent vec4 chains give the scheduler enough parallelism; `m` and `c` come from
// the uniform so that the compiler cannot fold the loop. With m = 1 and c = 1 every chain counts
// up by one per iteration, exactly, which is what the test checks.

struct PeakParams {
    invocations: u32,
    iterations: u32,
    m: f32,
    c: f32,
}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> p: PeakParams;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn fma_peak(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let idx = (wid.x + wid.y * groups.x) * WG_SIZE + lid;
    if (idx >= p.invocations) {
        return;
    }
    let m = vec4<f32>(p.m);
    let c = vec4<f32>(p.c);
    let base = f32(idx % 1024u);
    var a0 = vec4<f32>(base);
    var a1 = a0 + 1.0;
    var a2 = a0 + 2.0;
    var a3 = a0 + 3.0;
    var a4 = a0 + 4.0;
    var a5 = a0 + 5.0;
    var a6 = a0 + 6.0;
    var a7 = a0 + 7.0;
    for (var i = 0u; i < p.iterations; i++) {
        a0 = fma(a0, m, c);
        a1 = fma(a1, m, c);
        a2 = fma(a2, m, c);
        a3 = fma(a3, m, c);
        a4 = fma(a4, m, c);
        a5 = fma(a5, m, c);
        a6 = fma(a6, m, c);
        a7 = fma(a7, m, c);
    }
    let s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    y[idx] = s.x + s.y + s.z + s.w;
}
