// Q5_1 (layout: q_q5_1.wgsl): w = d * q + m.
const X8_HALF_M: bool = false;

fn x8_weights(c: u32) -> X8W {
    let dm = unpack2x16float(sc[2u * c]);
    let q = x8_q5_words(qs[c], sc[2u * c + 1u]);
    return X8W(q, vec2<f32>(dm.x), vec2<f32>(dm.y));
}
