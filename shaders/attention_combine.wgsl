// Merges the key splits of attention.wgsl: per (token, head), the partial
// (o, m, l) of every split s: out = sum_s e_s o_s / sum_s e_s l_s with
// e_s = exp(m_s - max_s m_s). Generated constants: WG.
// Grid: (n_heads, n_tokens, splits); only z = 0 works (the split count is
// the grid's z, as for attention.wgsl).

struct CombParams {
    n_heads: u32,
    head_dim: u32,
    q_stride: u32,
    cap: u32,
}

@group(0) @binding(BIND_PARAMS) var<uniform> p: CombParams;
@group(0) @binding(BIND_PART) var<storage, read> part: array<f32>;
@group(0) @binding(BIND_OUT) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let h = wid.x;
    let t = wid.y;
    if (wid.z != 0u || h >= p.n_heads || t >= min(step.n_tokens, p.cap)) {
        return;
    }
    let splits = nwg.z;
    let stride = p.head_dim + 2u;
    let base = (t * p.n_heads + h) * splits * stride;
    var m = -3.0e38;
    for (var s = 0u; s < splits; s++) {
        m = max(m, part[base + s * stride + p.head_dim]);
    }
    var l = 0.0;
    for (var s = 0u; s < splits; s++) {
        let b = base + s * stride;
        l += exp(part[b + p.head_dim] - m) * part[b + p.head_dim + 1u];
    }
    for (var d = li; d < p.head_dim; d += WG) {
        var o = 0.0;
        for (var s = 0u; s < splits; s++) {
            let b = base + s * stride;
            o += exp(part[b + p.head_dim] - m) * part[b + d];
        }
        out[t * p.q_stride + h * p.head_dim + d] = o / l;
    }
}
