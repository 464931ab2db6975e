// What the two matmul kernels (matmul.wgsl, matmul_x8.wgsl) share: which
// tokens a workgroup takes (mm_tokens()), and the end (mm_finish()), which
// sums the LANES partial tiles of each row slot (subgroupAdd, or transposed
// through workgroup memory: lane l sums accumulators l, l + LANES, ..., short
// loops and two barriers) and hands the RPT x TT tile to the epilogue,
// tokens yt0..yt0 + count. mm_finish() is called by every invocation (it has
// barriers).

// The tokens of workgroup row `wy`: x rows x0.., y rows y0.., count of them
// (0 past the step). With last_only, workgroup row 0 takes the step's last
// token (x row n - 1) into y row 0, and the other rows none.
struct MmTokens {
    x0: u32,
    y0: u32,
    count: u32,
}

fn mm_tokens(wy: u32) -> MmTokens {
    let n = min(step.n_tokens, p.cap);
    if (p.last_only != 0u) {
        if (n > 0u && wy == 0u) {
            return MmTokens(n - 1u, 0u, 1u);
        }
        return MmTokens(0u, 0u, 0u);
    }
    let t0 = wy * TT;
    if (t0 >= n) {
        return MmTokens(t0, t0, 0u);
    }
    return MmTokens(t0, t0, min(TT, n - t0));
}

var<workgroup> red: array<f32, RED>;

fn mm_finish(acc: ptr<function, array<f32, ACC>>, lane: u32, rl: u32, rbase: u32, yt0: u32, count: u32) {
    if (LANES > 1u) {
        if (SGRED == 1u) {
            for (var a = 0u; a < ACC; a++) {
                (*acc)[a] = sg_add((*acc)[a]);
            }
        } else {
            for (var a = 0u; a < ACC; a++) {
                red[(rl * ACC + a) * LANES + lane] = (*acc)[a];
            }
            workgroupBarrier();
            for (var a = lane; a < ACC; a += LANES) {
                let b = (rl * ACC + a) * LANES;
                var v = 0.0;
                for (var i = 0u; i < LANES; i++) {
                    v += red[b + i];
                }
                red[b] = v;
            }
            workgroupBarrier();
            for (var a = 0u; a < ACC; a++) {
                (*acc)[a] = red[(rl * ACC + a) * LANES];
            }
        }
    }

    if (lane == 0u) {
        for (var r = 0u; r < RPT; r += PAIR) {
            let row = rbase + r;
            if (row < p.rows) {
                for (var t = 0u; t < TT; t++) {
                    if (t < count) {
                        if (PAIR == 2u) {
                            mm_out2(p.row0 + row, yt0 + t, (*acc)[r * TT + t], (*acc)[(r + 1u) * TT + t]);
                        } else {
                            mm_out1(p.row0 + row, yt0 + t, (*acc)[r * TT + t]);
                        }
                    }
                }
            }
        }
    }
}
