// matmul epilogue: y[t][row] = v, or += v with `accumulate` (a fused
// residual add).

@group(0) @binding(BIND_Y) var<storage, read_write> y: array<f32>;

fn mm_out1(row: u32, t: u32, v: f32) {
    let i = t * p.y_stride + row;
    if (p.accumulate != 0u) {
        y[i] += v;
    } else {
        y[i] = v;
    }
}

fn mm_out2(row: u32, t: u32, a: f32, b: f32) {
    mm_out1(row, t, a);
    mm_out1(row + 1u, t, b);
}
