// Q6_K (layout: q_q6_k.wgsl): a chunk is one block of 32 in two sub-blocks
// of 16 with their own signed scales; w = (d * scale) * (q - 32), q the low
// nibble with its two high bits at bits 4 and 5, as int8 q - 32.
const X8_HALF_M: bool = false;

fn x8_weights(c: u32) -> X8W {
    let sb = c >> 3u;
    let s = c & 7u;
    let base = (sb >> 1u) * 41u;
    let dd = unpack2x16float(sc[base]);
    let d = select(dd.x, dd.y, (sb & 1u) == 1u);
    let o = base + 1u + (sb & 1u) * 20u;
    let h0 = sc[o + 2u * s];
    let h1 = sc[o + 2u * s + 1u];
    let sw = sc[o + 16u + (s >> 1u)] >> (16u * (s & 1u));
    var q = x8_nibbles(qs[c]);
    let k32 = 0x20202020u;
    for (var k = 0u; k < 4u; k++) {
        q[k] = x8_minus(q[k] | (x8_crumbs(h0 >> (8u * k)) << 4u), k32);
        q[k + 4u] = x8_minus(q[k + 4u] | (x8_crumbs(h1 >> (8u * k)) << 4u), k32);
    }
    // The two scale bytes, sign-extended.
    let s0 = f32(bitcast<i32>(sw << 24u) >> 24u);
    let s1 = f32(bitcast<i32>(sw << 16u) >> 24u);
    return X8W(q, d * vec2<f32>(s0, s1), vec2<f32>(0.0));
}
