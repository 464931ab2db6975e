// matmul epilogue: the rows of W are gate and up rows interleaved (row 2i =
// gate row i, 2i + 1 = up row i), so a thread holds both and writes
// h[t][i] = silu(gate) * up; y_stride is the width of h.

@group(0) @binding(BIND_H) var<storage, read_write> h: array<f32>;

fn mm_out1(row: u32, t: u32, v: f32) {}

fn mm_out2(row: u32, t: u32, g: f32, u: f32) {
    h[t * p.y_stride + row / 2u] = g / (1.0 + exp(-g)) * u;
}
