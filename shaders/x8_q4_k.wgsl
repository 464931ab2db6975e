// Q4_K (layout: q_q4_k.wgsl): a chunk is one sub-block of 32, nibbles as in
// Q4_0, w = (d * scale) * q - dmin * min.
const X8_HALF_M: bool = false;

fn x8_weights(c: u32) -> X8W {
    let base = (c >> 3u) * 4u;
    let dm = unpack2x16float(sc[base]);
    let sm = qk_scale_min(base + 1u, c & 7u);
    return X8W(x8_nibbles(qs[c]), vec2<f32>(dm.x * sm.x), vec2<f32>(-dm.y * sm.y));
}
