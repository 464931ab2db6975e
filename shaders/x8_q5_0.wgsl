// Q5_0 against 8-bit x blocks (layout: q_q5_0.wgsl): w = d * (q - 16), so
// the block's sum is d * (dx * sum(q * qx) - 16 * s).
fn x8_dot(c: u32, x0: vec4<u32>, x1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let base = (c >> 1u) * 3u;
    let s = unpack2x16float(sc[base]);
    let d = select(s.x, s.y, (c & 1u) == 1u);
    let i = x8_q5_sum(qs[c], sc[base + 1u + (c & 1u)], x0, x1);
    return d * (ds.x * f32(i) - 16.0 * ds.y);
}
