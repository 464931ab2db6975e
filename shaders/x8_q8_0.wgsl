// Q8_0 (layout: q_q8_0.wgsl): the weight words are packed i8 in the byte
// order of the x words; w = d * q.
const X8_HALF_M: bool = false;

fn x8_weights(c: u32) -> X8W {
    let s = unpack2x16float(sc[c >> 1u]);
    let d = select(s.x, s.y, (c & 1u) == 1u);
    let lo = qs[2u * c];
    let hi = qs[2u * c + 1u];
    let q = array<u32, 8>(lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]);
    return X8W(q, vec2<f32>(d), vec2<f32>(0.0));
}
