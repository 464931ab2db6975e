// matmul prologue: RMS normalization of the x rows, fused into the matmul:
// x'[t][c] = x[t][c] * inv[t] * nw[c], inv[t] = 1 / sqrt(mean_c(x[t][c]^2) + eps).
// Every workgroup computes the inverse RMS of its TT token rows (cheap next
// to the weights it reads) so that no separate pass is needed.

@group(0) @binding(BIND_NORM_W) var<storage, read> nw_buf: array<vec4<f32>>;

var<workgroup> ss: array<f32, WG * TT>;

fn mm_prologue(li: u32, xt0: u32, count: u32) {
    for (var t = 0u; t < TT; t++) {
        var s = 0.0;
        if (t < count) {
            let xb = (xt0 + t) * p.x_stride;
            for (var i = li; i < p.x_stride; i += WG) {
                let v = x[xb + i];
                s += dot(v, v);
            }
        }
        ss[t * WG + li] = s;
    }
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
        if (li < h) {
            for (var t = 0u; t < TT; t++) {
                ss[t * WG + li] += ss[t * WG + li + h];
            }
        }
        workgroupBarrier();
    }
}

fn mm_inv(t: u32) -> f32 {
    return inverseSqrt(ss[t * WG] / f32(p.x_stride * 4u) + p.eps);
}

fn mm_nw(i: u32) -> vec4<f32> {
    return nw_buf[i];
}
