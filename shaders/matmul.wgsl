// y[t][row0 + r] (+)= sum_c W[r][c] * x[t][c] for one row range (part) of W.
//
// Generated constants: WG (= ROWS * LANES), ROWS (row slots per workgroup),
// LANES (threads sharing one row slot, a power of two; 1 = one thread per
// slot), RPT (consecutive rows per slot), TT (tokens per invocation), ACC
// (= RPT * TT), RED (reduction scratch size), XSTAT (loop order, below).
// Each invocation keeps an RPT x TT tile of sums in registers: a dequantized
// weight chunk is reused for TT tokens, and with XSTAT = 1 the x chunks of
// the TT tokens are loaded once and reused for RPT rows. Lanes of a slot take
// every LANES-th chunk of the row and are summed in workgroup memory at the
// end. The weight type's snippet provides CH, CV and load_chunk().
//
// Grid: x (folded into z) = groups of ROWS * RPT rows; y = groups of TT tokens.

struct MatParams {
    rows: u32,        // rows in this part
    row0: u32,        // first row of the part in W (and column of y)
    cpr: u32,         // chunks per row
    x_stride: u32,    // vec4s per x row (= cols / 4)
    y_stride: u32,    // floats per y row (= all rows of W)
    accumulate: u32,  // 1: add to y
    last_only: u32,   // 1: only x row n_tokens - 1, into y row 0
    cap: u32,         // token rows the buffers hold
}

@group(0) @binding(1) var<uniform> p: MatParams;
@group(0) @binding(2) var<storage, read> qs: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> sc: array<u32>;
@group(0) @binding(4) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, RED>;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let lane = li % LANES;
    let rl = li / LANES;
    let n = min(step.n_tokens, p.cap);

    var xt0 = wid.y * TT;
    var yt0 = xt0;
    var count = 0u;
    if (p.last_only != 0u) {
        if (n > 0u && wid.y == 0u) {
            xt0 = n - 1u;
            yt0 = 0u;
            count = 1u;
        }
    } else if (xt0 < n) {
        count = min(TT, n - xt0);
    }

    // Register tile: RPT rows x TT tokens per invocation.
    var acc: array<f32, ACC>;
    let rbase = (row_group(wid, nwg) * ROWS + rl) * RPT;
    for (var k = lane; k < p.cpr; k += LANES) {
        if (XSTAT == 1u) {
            // x-stationary: load the x chunks of the TT tokens once, reuse
            // them for RPT rows (decode, and CPU-like adapters).
            var xs: array<vec4<f32>, CV * TT>;
            for (var t = 0u; t < TT; t++) {
                if (t < count) {
                    let xb = (xt0 + t) * p.x_stride + k * CV;
                    for (var i = 0u; i < CV; i++) {
                        xs[t * CV + i] = x[xb + i];
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
                    for (var t = 0u; t < TT; t++) {
                        if (t < count) {
                            let xb = (xt0 + t) * p.x_stride + k * CV;
                            var s = 0.0;
                            for (var i = 0u; i < CV; i++) {
                                s += dot(w[i], x[xb + i]);
                            }
                            acc[r * TT + t] += s;
                        }
                    }
                }
            }
        }
    }

    if (LANES > 1u) {
        for (var a = 0u; a < ACC; a++) {
            red[(rl * ACC + a) * LANES + lane] = acc[a];
        }
        workgroupBarrier();
        for (var s = LANES / 2u; s > 0u; s >>= 1u) {
            if (lane < s) {
                for (var a = 0u; a < ACC; a++) {
                    let i = (rl * ACC + a) * LANES + lane;
                    red[i] += red[i + s];
                }
            }
            workgroupBarrier();
        }
        for (var a = 0u; a < ACC; a++) {
            acc[a] = red[(rl * ACC + a) * LANES];
        }
    }

    if (lane == 0u) {
        for (var r = 0u; r < RPT; r++) {
            let row = rbase + r;
            if (row < p.rows) {
                for (var t = 0u; t < TT; t++) {
                    if (t < count) {
                        let yi = (yt0 + t) * p.y_stride + p.row0 + row;
                        var v = acc[r * TT + t];
                        if (p.accumulate != 0u) {
                            v += y[yi];
                        }
                        y[yi] = v;
                    }
                }
            }
        }
    }
}
