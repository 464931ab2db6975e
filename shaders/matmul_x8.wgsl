// The matmul with 8-bit activations and packed integer dot products:
// y[t][row0 + r] = sum over blocks k of the weight type's block sum
// (x8_parts.wgsl: x8_weights() unpacks a block of W to int8 words,
// x8_block() multiplies it with an 8-bit x block) against the x blocks of
// quantize_x8.wgsl (`xq`: one quantized row per token, x8_units() 16-byte
// units each; with last_only the step's last token is row 0). The result goes
// to an epilogue (matmul_out_*.wgsl) through mm_finish(), for the tokens
// of mm_tokens().
//
// The Rust side concatenates: generated constants, common.wgsl,
// x8_parts.wgsl and the type's snippet, matmul_params.wgsl, this file,
// matmul_parts.wgsl, the subgroup helpers, the epilogue. Constants and the
// thread layout are those of matmul.wgsl (WG, ROWS, LANES, RPT, TT, ACC, RED,
// SGRED, PAIR): each invocation keeps an RPT x TT tile of sums, unpacks a
// weight block once for TT tokens and loads the TT tokens' x blocks once for
// RPT rows. Blocks of 32 are numbered along the rows (row * blocks + k): a
// chunk for 32-element chunks, half of one for 64-element chunks (Q2_K,
// Q3_K), which is why this counts blocks from the row width, not p.cpr.

@group(0) @binding(BIND_XQ) var<storage, read> xq: array<vec4<u32>>;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let lane = li % LANES;
    let rl = li / LANES;
    // Token rows of xq and of y (with last_only, quantize_x8 put the last
    // token in xq row 0).
    let tokens = mm_tokens(wid.y);
    let t0 = tokens.y0;
    let count = tokens.count;

    let nb = p.x_stride / 8u;
    let xrow = 2u * nb + (nb + 1u) / 2u;
    var acc: array<f32, ACC>;
    let rbase = (row_group(wid, nwg) * ROWS + rl) * RPT;
    for (var k = lane; k < nb; k += LANES) {
        var x0: array<vec4<u32>, TT>;
        var x1: array<vec4<u32>, TT>;
        var dx: array<f32, TT>;
        var s: array<vec2<f32>, TT>;
        for (var t = 0u; t < TT; t++) {
            if (t < count) {
                let xb = (t0 + t) * xrow;
                x0[t] = xq[xb + 2u * k];
                x1[t] = xq[xb + 2u * k + 1u];
                let dsu = bitcast<vec4<f32>>(xq[xb + 2u * nb + k / 2u]);
                let ds = select(dsu.xy, dsu.zw, (k & 1u) == 1u);
                dx[t] = ds.x;
                if (X8_HALF_M) {
                    s[t] = ds.x * vec2<f32>(f32(x8_half_sum(x0[t])), f32(x8_half_sum(x1[t])));
                } else {
                    s[t] = vec2<f32>(ds.y, 0.0);
                }
            }
        }
        for (var r = 0u; r < RPT; r++) {
            let row = rbase + r;
            if (row < p.rows) {
                let w = x8_weights(row * nb + k);
                for (var t = 0u; t < TT; t++) {
                    if (t < count) {
                        acc[r * TT + t] += x8_block(w, x0[t], x1[t], dx[t], s[t]);
                    }
                }
            }
        }
    }
    mm_finish(&acc, lane, rl, rbase, t0, count);
}
