// Q5_0 (layout: q_q5_0.wgsl): w = d * (q - 16), the -16 through the x sum.
const X8_HALF_M: bool = false;

fn x8_weights(c: u32) -> X8W {
    let base = (c >> 1u) * 3u;
    let s = unpack2x16float(sc[base]);
    let d = select(s.x, s.y, (c & 1u) == 1u);
    let q = x8_q5_words(qs[c], sc[base + 1u + (c & 1u)]);
    return X8W(q, vec2<f32>(d), vec2<f32>(-16.0 * d));
}
