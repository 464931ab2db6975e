// Q5_K (layout: q_q5_k.wgsl): Q4_K's scales and mins with a fifth bit per
// element.
const X8_HALF_M: bool = false;

fn x8_weights(c: u32) -> X8W {
    let base = (c >> 3u) * 12u;
    let dm = unpack2x16float(sc[base]);
    let sm = qk_scale_min(base + 1u, c & 7u);
    let q = x8_q5_words(qs[c], sc[base + 4u + (c & 7u)]);
    return X8W(q, vec2<f32>(dm.x * sm.x), vec2<f32>(-dm.y * sm.y));
}
