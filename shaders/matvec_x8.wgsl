// The decode (one token) mat-vec with 8-bit activations and packed integer
// dot products: y[row0 + r] = sum over blocks b of x8_dot(W block, x block),
// with the x blocks of quantize_x8.wgsl (`xq`, its layout there) and the
// weight type's x8_dot() (x8_*.wgsl: unpacks 4 weights per word and
// multiplies them with dot4I8Packed). The result goes to an epilogue
// (matmul_out_*.wgsl) as token 0: the step's only token, or its last one
// with last_only (quantize_x8 took that row).
//
// The Rust side concatenates: generated constants, common.wgsl, the x8_dot
// snippet, matmul_params.wgsl, this file, the epilogue. Constants and the
// thread layout are those of the decode shape of matmul.wgsl (WG, ROWS,
// LANES, RPT, RED, SGRED, PAIR); a block is a chunk (32 elements).

@group(0) @binding(BIND_XQ) var<storage, read> xq: array<vec4<u32>>;

var<workgroup> red: array<f32, RED>;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let lane = li % LANES;
    let rl = li / LANES;
    var acc: array<f32, RPT>;
    let rbase = (row_group(wid, nwg) * ROWS + rl) * RPT;
    for (var k = lane; k < p.cpr; k += LANES) {
        let x0 = xq[2u * k];
        let x1 = xq[2u * k + 1u];
        let dsu = bitcast<vec4<f32>>(xq[2u * p.cpr + k / 2u]);
        let ds = select(dsu.xy, dsu.zw, (k & 1u) == 1u);
        for (var r = 0u; r < RPT; r++) {
            let row = rbase + r;
            if (row < p.rows) {
                acc[r] += x8_dot(row * p.cpr + k, x0, x1, ds);
            }
        }
    }

    if (LANES > 1u) {
        if (SGRED == 1u) {
            for (var a = 0u; a < RPT; a++) {
                acc[a] = sg_add(acc[a]);
            }
        } else {
            for (var a = 0u; a < RPT; a++) {
                red[(rl * RPT + a) * LANES + lane] = acc[a];
            }
            workgroupBarrier();
            for (var a = lane; a < RPT; a += LANES) {
                let b = (rl * RPT + a) * LANES;
                var v = 0.0;
                for (var i = 0u; i < LANES; i++) {
                    v += red[b + i];
                }
                red[b] = v;
            }
            workgroupBarrier();
            for (var a = 0u; a < RPT; a++) {
                acc[a] = red[(rl * RPT + a) * LANES];
            }
        }
    }

    if (lane == 0u) {
        for (var r = 0u; r < RPT; r += PAIR) {
            let row = rbase + r;
            if (row < p.rows) {
                if (PAIR == 2u) {
                    mm_out2(p.row0 + row, 0u, acc[r], acc[r + 1u]);
                } else {
                    mm_out1(p.row0 + row, 0u, acc[r]);
                }
            }
        }
    }
}
