// y[t][row0 + r] = sum_c W[r][c] * x'[t][c] for one row range (part) of W,
// with x' = x, or x' = rmsnorm(x) * nw when the norm prologue is used, and
// the result handed to an epilogue (plain store / accumulate, RoPE + KV
// cache store, SwiGLU of row pairs).
//
// The Rust side concatenates: generated constants, common.wgsl, the weight
// type's snippet (CH, CV, load_chunk() over `qs`/`sc`), matmul_params.wgsl
// (MatParams `p`, the `qs` and `sc` bindings), this file,
// matmul_parts.wgsl (the tokens, mm_tokens(), and the lanes' reduction,
// mm_finish()), one x prologue
// (matmul_x_*.wgsl: mm_prologue(), mm_nw(), mm_inv()) and one epilogue
// (matmul_out_*.wgsl: mm_out1(), mm_out2()).
//
// Generated constants: WG (= ROWS * LANES), ROWS (row slots per workgroup),
// LANES (threads sharing one row slot), RPT (consecutive rows per slot), TT
// (tokens per invocation), ACC (= RPT * TT), RED (reduction scratch size),
// XSTAT (loop order, below), SGRED (1: the LANES lanes of a slot are one
// subgroup and are summed with subgroupAdd; 0: in workgroup memory), PAIR
// (2: the epilogue takes rows in (even, odd) pairs; RPT is then even).
// XSG (> 0: share x chunks through subgroups of this size, see below), XN
// (= ceil(CV * TT / XSG)). sg_add() is subgroupAdd and sg_shuffle4()
// subgroupShuffle, or stand-ins where subgroups are off (so that the shader
// never names a subgroup builtin then).
//
// Each invocation keeps an RPT x TT tile of sums in registers: a dequantized
// weight chunk is reused for TT tokens, and with XSTAT = 1 the x chunks of
// the TT tokens are loaded once and reused for RPT rows. Lanes of a slot take
// every LANES-th chunk of the row (consecutive lanes read consecutive 16-byte
// units: coalesced on GPUs).
//
// Grid: x (folded into z) = groups of ROWS * RPT rows; y = groups of TT tokens.

@group(0) @binding(BIND_X) var<storage, read> x: array<vec4<f32>>;

// XSG, or 1 when x sharing is off (a divisor that is never zero).
const XS: u32 = max(XSG, 1u);

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let lane = li % LANES;
    let rl = li / LANES;
    let tokens = mm_tokens(wid.y);
    let xt0 = tokens.x0;
    let yt0 = tokens.y0;
    let count = tokens.count;

    // Per-token input scale (1, or the inverse RMS of the x row).
    mm_prologue(li, xt0, count);
    var inv: array<f32, TT>;
    for (var t = 0u; t < TT; t++) {
        inv[t] = mm_inv(t);
    }

    // Register tile: RPT rows x TT tokens per invocation.
    var acc: array<f32, ACC>;
    let rbase = (row_group(wid, nwg) * ROWS + rl) * RPT;
    if (XSG > 0u) {
        // x-stationary with the x chunks shared through the subgroup (CPU
        // adapters, where every lane's load is a separate scalar load): lane
        // l of a subgroup of XSG loads every XSG-th vec4 of the TT tokens'
        // chunks, and the lanes exchange them with shuffles. Needs LANES = 1
        // (so that all threads of the workgroup walk the same chunks).
        let sl = li % XS;
        for (var k = 0u; k < p.cpr; k++) {
            var mine: array<vec4<f32>, XN>;
            for (var s = 0u; s < XN; s++) {
                let e = s * XS + sl;
                let t = e / CV;
                let i = e % CV;
                var v = vec4<f32>(0.0);
                if (t < count) {
                    v = x[(xt0 + t) * p.x_stride + k * CV + i] * (mm_nw(k * CV + i) * inv[t]);
                }
                mine[s] = v;
            }
            var xs: array<vec4<f32>, CV * TT>;
            for (var e = 0u; e < CV * TT; e++) {
                xs[e] = sg_shuffle4(mine[e / XS], e % XS);
            }
            for (var r = 0u; r < RPT; r++) {
                let row = rbase + r;
                if (row < p.rows) {
                    var w = load_chunk(row * p.cpr + k);
                    for (var t = 0u; t < TT; t++) {
                        var s = 0.0;
                        for (var i = 0u; i < CV; i++) {
                            s += dot(w[i], xs[t * CV + i]);
                        }
                        acc[r * TT + t] += s;
                    }
                }
            }
        }
    }
    for (var k = lane; k < p.cpr && XSG == 0u; k += LANES) {
        if (XSTAT == 1u) {
            // x-stationary: load the x chunks of the TT tokens once, reuse
            // them for RPT rows (decode, and CPU-like adapters).
            var xs: array<vec4<f32>, CV * TT>;
            var nw: array<vec4<f32>, CV>;
            for (var i = 0u; i < CV; i++) {
                nw[i] = mm_nw(k * CV + i);
            }
            for (var t = 0u; t < TT; t++) {
                if (t < count) {
                    let xb = (xt0 + t) * p.x_stride + k * CV;
                    for (var i = 0u; i < CV; i++) {
                        xs[t * CV + i] = x[xb + i] * (nw[i] * inv[t]);
                    }
                }
            }
            for (var r = 0u; r < RPT; r++) {
                let row = rbase + r;
                if (row < p.rows) {
                    var w = load_chunk(row * p.cpr + k);
                    for (var t = 0u; t < TT; t++) {
                        if (t < count) {
                            var s = 0.0;
                            for (var i = 0u; i < CV; i++) {
                                s += dot(w[i], xs[t * CV + i]);
                            }
                            acc[r * TT + t] += s;
                        }
                    }
                }
            }
        } else {
            // weight-stationary: dequantize each weight chunk once, reuse it
            // for TT tokens whose x chunks come from the cache.
            for (var r = 0u; r < RPT; r++) {
                let row = rbase + r;
                if (row < p.rows) {
                    var w = load_chunk(row * p.cpr + k);
                    for (var i = 0u; i < CV; i++) {
                        w[i] *= mm_nw(k * CV + i);
                    }
                    for (var t = 0u; t < TT; t++) {
                        if (t < count) {
                            let xb = (xt0 + t) * p.x_stride + k * CV;
                            var s = 0.0;
                            for (var i = 0u; i < CV; i++) {
                                s += dot(w[i], x[xb + i]);
                            }
                            acc[r * TT + t] += s * inv[t];
                        }
                    }
                }
            }
        }
    }

    mm_finish(&acc, lane, rl, rbase, yt0, count);
}
