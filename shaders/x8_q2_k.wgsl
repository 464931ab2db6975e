// Q2_K (layout: q_q2_k.wgsl): a chunk is 64 elements, so block c is half
// c & 1 of chunk c >> 1: words 2h and 2h + 1 of the unit, 16 elements each
// with their own 4-bit scale and min. w = (d * scale) * q - dmin * min: the
// only type whose halves have different offsets.
const X8_HALF_M: bool = true;

fn x8_weights(c: u32) -> X8W {
    let ch = c >> 1u;
    let h = c & 1u;
    let base = (ch >> 2u) * 5u;
    let dm = unpack2x16float(sc[base]);
    // The scale/min bytes of words 2h and 2h + 1.
    let sm = sc[base + 1u + (ch & 3u)] >> (16u * h);
    let v = qs[ch];
    var q: array<u32, 8>;
    for (var e = 0u; e < 2u; e++) {
        for (var k = 0u; k < 4u; k++) {
            q[4u * e + k] = x8_crumbs(v[2u * h + e] >> (8u * k));
        }
    }
    let sc0 = vec2<f32>(f32(sm & 15u), f32((sm >> 8u) & 15u));
    let mn = vec2<f32>(f32((sm >> 4u) & 15u), f32((sm >> 12u) & 15u));
    return X8W(q, dm.x * sc0, -dm.y * mn);
}
