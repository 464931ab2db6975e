// matmul prologue: x is used as it is.

fn mm_prologue(li: u32, xt0: u32, count: u32) {}

fn mm_inv(t: u32) -> f32 {
    return 1.0;
}

fn mm_nw(i: u32) -> vec4<f32> {
    return vec4<f32>(1.0);
}
