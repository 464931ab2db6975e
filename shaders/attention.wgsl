// Causal multi-head attention with grouped KV heads, flash-attention style,
// for the n_tokens query rows of this step: query row t (position pos0 + t)
// attends cache rows 0..=pos0+t (never past it: rows beyond the logical
// length may hold anything).
//
// A workgroup takes one KV head, a tile of QT "query rows" of that head (row
// r = token r / group, query head kv_head * group + r % group, so the heads
// sharing a KV head share its loads) and, when the keys are split across
// workgroups (flash-decoding, grid z > 1), one range of keys. Keys are
// visited in tiles of KT with an online (running maximum) softmax:
//   scores: each thread computes a QR x KR block of q.k (register tile),
//   softmax: per query row, the tile's maximum and the rescaling of the sums,
//   values: each thread accumulates QR rows x its 4-wide dim slices of P.V.
// With one split the result is normalized and written to `out`; with several,
// (unnormalized o, running max m, sum l) go to `part` and
// attention_combine.wgsl merges them.
//
// The cache reads (kload8, vload4) come from attention_kv_f32.wgsl,
// attention_kv_f16.wgsl or attention_kv_q8.wgsl.
// Generated constants: WG (= QG * 16), QG (query groups), QR (rows per
// group), QT (= QG * QR), KT (= 16 * KR), KR, HD (head_dim, a multiple of 8),
// HD4 (= HD / 4), DV (vec4 slices per PV thread, = ceil(HD4 / 16)).
// Grid: (n_kv_heads, query-row tiles, splits).

struct AttnParams {
    n_heads: u32,
    group: u32,     // query heads per KV head
    kv_dim: u32,    // floats per cache row
    q_stride: u32,  // floats per q / out row
    max_ctx: u32,   // rows the caches hold
    cap: u32,
    scale: f32,     // 1 / sqrt(head_dim)
    _a: u32,
}

@group(0) @binding(BIND_PARAMS) var<uniform> p: AttnParams;
@group(0) @binding(BIND_Q) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(BIND_OUT) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(BIND_PART) var<storage, read_write> part: array<f32>;

var<workgroup> q_sh: array<vec4<f32>, QT * HD4>;
var<workgroup> s_sh: array<f32, QT * KT>;
var<workgroup> m_sh: array<f32, QT>;
var<workgroup> l_sh: array<f32, QT>;
var<workgroup> a_sh: array<f32, QT>;

// Stands in for -infinity: finite, so that exp(NEG - NEG) is 1, not NaN.
const NEG: f32 = -3.0e38;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let g = wid.x;
    let n = min(step.n_tokens, p.cap);
    let n_rows = n * p.group;
    let r0 = wid.y * QT;
    let kv_off4 = g * HD4;
    let qg = li / 16u;
    let kk = li % 16u;

    // The keys this workgroup visits: up to the last position of its rows,
    // restricted to its split.
    let r_last = min(r0 + QT, n_rows);
    var k_end = 0u;
    if (r0 < n_rows) {
        k_end = min(step.pos0 + (r_last - 1u) / p.group + 1u, p.max_ctx);
    }
    let all_end = min(step.pos0 + n, p.max_ctx);
    let chunk = ((all_end + KT - 1u) / KT + nwg.z - 1u) / nwg.z * KT;
    let k_begin = wid.z * chunk;
    k_end = min(k_end, k_begin + chunk);

    // q rows of the tile, pre-scaled.
    for (var i = li; i < QT * HD4; i += WG) {
        let r = r0 + i / HD4;
        var v = vec4<f32>(0.0);
        if (r < n_rows) {
            let t = r / p.group;
            let h = g * p.group + r % p.group;
            v = q[(t * p.q_stride) / 4u + h * HD4 + i % HD4] * p.scale;
        }
        q_sh[i] = v;
    }
    for (var i = li; i < QT; i += WG) {
        m_sh[i] = NEG;
        l_sh[i] = 0.0;
    }
    workgroupBarrier();

    var o: array<vec4<f32>, QR * DV>;
    for (var j0 = k_begin; j0 < k_end; j0 += KT) {
        // Scores: rows qg*QR.., keys j0 + kk + 16*m.
        var s: array<f32, QR * KR>;
        for (var c = 0u; c < HD / 8u; c++) {
            var kv: array<vec4<f32>, 2 * KR>;
            for (var m = 0u; m < KR; m++) {
                let j = j0 + kk + 16u * m;
                if (j < k_end) {
                    let w = kload8(j, kv_off4, c);
                    kv[2u * m] = w[0];
                    kv[2u * m + 1u] = w[1];
                }
            }
            for (var i = 0u; i < QR; i++) {
                let qa = q_sh[(qg * QR + i) * HD4 + 2u * c];
                let qb = q_sh[(qg * QR + i) * HD4 + 2u * c + 1u];
                for (var m = 0u; m < KR; m++) {
                    s[i * KR + m] += dot(qa, kv[2u * m]) + dot(qb, kv[2u * m + 1u]);
                }
            }
        }
        for (var i = 0u; i < QR; i++) {
            let row = qg * QR + i;
            let pos = step.pos0 + (r0 + row) / p.group;
            for (var m = 0u; m < KR; m++) {
                let j = j0 + kk + 16u * m;
                // Causal mask (and keys past the range).
                var v = s[i * KR + m];
                if (j >= k_end || j > pos) {
                    v = NEG;
                }
                s_sh[row * KT + kk + 16u * m] = v;
            }
        }
        workgroupBarrier();

        // Online softmax, one thread per row.
        if (kk < QR) {
            let row = qg * QR + kk;
            let m_old = m_sh[row];
            var m_new = m_old;
            for (var j = 0u; j < KT; j++) {
                m_new = max(m_new, s_sh[row * KT + j]);
            }
            var sum = 0.0;
            for (var j = 0u; j < KT; j++) {
                let sv = s_sh[row * KT + j];
                var e = 0.0;
                if (sv > NEG) {
                    e = exp(sv - m_new);
                }
                s_sh[row * KT + j] = e;
                sum += e;
            }
            let alpha = exp(m_old - m_new);
            a_sh[row] = alpha;
            l_sh[row] = l_sh[row] * alpha + sum;
            m_sh[row] = m_new;
        }
        workgroupBarrier();

        // Values: rows qg*QR.., dim slices kk + 16*e.
        for (var i = 0u; i < QR; i++) {
            let alpha = a_sh[qg * QR + i];
            for (var e = 0u; e < DV; e++) {
                o[i * DV + e] *= alpha;
            }
        }
        let cnt = min(KT, k_end - j0);
        for (var j = 0u; j < cnt; j++) {
            var vv: array<vec4<f32>, DV>;
            for (var e = 0u; e < DV; e++) {
                let d4 = kk + 16u * e;
                if (d4 < HD4) {
                    vv[e] = vload4(j0 + j, kv_off4, d4);
                }
            }
            for (var i = 0u; i < QR; i++) {
                let pij = s_sh[(qg * QR + i) * KT + j];
                for (var e = 0u; e < DV; e++) {
                    o[i * DV + e] += pij * vv[e];
                }
            }
        }
        workgroupBarrier();
    }

    let split = nwg.z > 1u;
    for (var i = 0u; i < QR; i++) {
        let row = qg * QR + i;
        let r = r0 + row;
        if (r >= n_rows) {
            continue;
        }
        let t = r / p.group;
        let h = g * p.group + r % p.group;
        let l = l_sh[row];
        if (split) {
            // part[((t * n_heads + h) * splits + z) * (HD + 2) ..]: o, m, l.
            let pb = ((t * p.n_heads + h) * nwg.z + wid.z) * (HD + 2u);
            for (var e = 0u; e < DV; e++) {
                let d4 = kk + 16u * e;
                if (d4 < HD4) {
                    let v = o[i * DV + e];
                    part[pb + 4u * d4] = v.x;
                    part[pb + 4u * d4 + 1u] = v.y;
                    part[pb + 4u * d4 + 2u] = v.z;
                    part[pb + 4u * d4 + 3u] = v.w;
                }
            }
            if (kk == 0u) {
                part[pb + HD] = m_sh[row];
                part[pb + HD + 1u] = l;
            }
        } else {
            let ob = (t * p.q_stride) / 4u + h * HD4;
            for (var e = 0u; e < DV; e++) {
                let d4 = kk + 16u * e;
                if (d4 < HD4) {
                    out[ob + d4] = o[i * DV + e] / l;
                }
            }
        }
    }
}
