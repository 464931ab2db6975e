// out[t][i] = x[t][i] / sqrt(mean_i(x[t][i]^2) + eps) * w[i].
// Generated constants: WG (a power of two). Grid: (1, n_tokens).

struct NormParams {
    dim: u32,
    eps: f32,
    cap: u32,
    _a: u32,
}

@group(0) @binding(BIND_PARAMS) var<uniform> p: NormParams;
@group(0) @binding(BIND_X) var<storage, read> x: array<f32>;
@group(0) @binding(BIND_WEIGHT) var<storage, read> w: array<f32>;
@group(0) @binding(BIND_OUT) var<storage, read_write> out: array<f32>;

var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let t = wid.y;
    if (t >= min(step.n_tokens, p.cap)) {
        return;
    }
    let base = t * p.dim;
    var s = 0.0;
    for (var i = li; i < p.dim; i += WG) {
        let v = x[base + i];
        s += v * v;
    }
    part[li] = s;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k >>= 1u) {
        if (li < k) {
            part[li] += part[li + k];
        }
        workgroupBarrier();
    }
    let inv = 1.0 / sqrt(part[0] / f32(p.dim) + p.eps);
    for (var i = li; i < p.dim; i += WG) {
        out[base + i] = x[base + i] * inv * w[i];
    }
}
