// Q4_1 (layout: q_q4_1.wgsl): w = d * q + m.
const X8_HALF_M: bool = false;

fn x8_weights(c: u32) -> X8W {
    let dm = unpack2x16float(sc[c]);
    return X8W(x8_nibbles(qs[c]), vec2<f32>(dm.x), vec2<f32>(dm.y));
}
