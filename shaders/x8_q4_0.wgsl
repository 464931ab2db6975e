// Q4_0 (layout: q_q4_0.wgsl): w = d * (q - 8), nibbles as they are, the -8
// through the x sum.
const X8_HALF_M: bool = false;

fn x8_weights(c: u32) -> X8W {
    let s = unpack2x16float(sc[c >> 1u]);
    let d = select(s.x, s.y, (c & 1u) == 1u);
    return X8W(x8_nibbles(qs[c]), vec2<f32>(d), vec2<f32>(-8.0 * d));
}
