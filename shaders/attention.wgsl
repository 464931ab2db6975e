// Causal multi-head attention with grouped KV heads, for the n_tokens query
// rows of this step: query row t (position pos0 + t) attends cache rows
// 0..=pos0+t. One workgroup per (head, token). Keys are visited in tiles of
// WG with an online (running max) softmax, so any context length works with
// fixed workgroup memory: each thread scores one key of the tile, then every
// thread accumulates its DPT output dimensions over the tile.
// Generated constants: WG, DPT (output dims per thread), QMAX (= WG * DPT).
// Grid: (n_heads, n_tokens).

struct AttnParams {
    n_heads: u32,
    head_dim: u32,
    group: u32,     // query heads per KV head
    kv_dim: u32,    // floats per cache row
    q_stride: u32,  // floats per q / out row
    max_ctx: u32,   // rows the caches hold
    cap: u32,
    scale: f32,     // 1 / sqrt(head_dim)
}

@group(0) @binding(1) var<uniform> p: AttnParams;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

var<workgroup> q_sh: array<f32, QMAX>;
var<workgroup> p_sh: array<f32, WG>;

// Stands in for -infinity: finite, so that exp(NEG - NEG) is 1, not NaN.
const NEG: f32 = -3.0e38;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let h = wid.x;
    let t = wid.y;
    if (h >= p.n_heads || t >= min(step.n_tokens, p.cap)) {
        return;
    }
    let kv_off = (h / p.group) * p.head_dim;
    let qb = t * p.q_stride + h * p.head_dim;
    for (var d = li; d < p.head_dim; d += WG) {
        q_sh[d] = q[qb + d] * p.scale;
    }
    workgroupBarrier();

    let len = min(step.pos0 + t + 1u, p.max_ctx);
    var m = NEG;
    var l = 0.0;
    var o: array<f32, DPT>;
    for (var j0 = 0u; j0 < len; j0 += WG) {
        let cnt = min(WG, len - j0);
        var s = NEG;
        if (li < cnt) {
            let kb = (j0 + li) * p.kv_dim + kv_off;
            var acc = 0.0;
            for (var d = 0u; d < p.head_dim; d++) {
                acc += q_sh[d] * k_cache[kb + d];
            }
            s = acc;
        }
        p_sh[li] = s;
        workgroupBarrier();
        var m_new = m;
        for (var i = 0u; i < cnt; i++) {
            m_new = max(m_new, p_sh[i]);
        }
        workgroupBarrier();
        p_sh[li] = exp(s - m_new);
        workgroupBarrier();
        let alpha = exp(m - m_new);
        var tile_sum = 0.0;
        for (var e = 0u; e < DPT; e++) {
            o[e] *= alpha;
        }
        for (var i = 0u; i < cnt; i++) {
            let pi = p_sh[i];
            tile_sum += pi;
            let vb = (j0 + i) * p.kv_dim + kv_off;
            for (var e = 0u; e < DPT; e++) {
                let d = li + e * WG;
                if (d < p.head_dim) {
                    o[e] += pi * v_cache[vb + d];
                }
            }
        }
        l = l * alpha + tile_sum;
        m = m_new;
        workgroupBarrier();
    }
    for (var e = 0u; e < DPT; e++) {
        let d = li + e * WG;
        if (d < p.head_dim) {
            out[qb + d] = o[e] / l;
        }
    }
}
