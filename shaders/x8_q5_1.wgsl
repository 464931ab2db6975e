// Q5_1 against 8-bit x blocks (layout: q_q5_1.wgsl): w = d * q + m, so the
// block's sum is d * dx * sum(q * qx) + m * s.
fn x8_dot(c: u32, x0: vec4<u32>, x1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let dm = unpack2x16float(sc[2u * c]);
    let i = x8_q5_sum(qs[c], sc[2u * c + 1u], x0, x1);
    return dm.x * ds.x * f32(i) + dm.y * ds.y;
}
