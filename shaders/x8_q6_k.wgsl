// Q6_K (layout: q_q6_k.wgsl): a chunk is one block of 32 in two sub-blocks
// of 16 with their own signed scales; w = (d * scale) * (q - 32), q the low
// nibble with its two high bits at bits 4 and 5, as int8 q - 32.
const X8_HALF_M: bool = false;

fn x8_weights(c: u32) -> X8W {
    let hd = q6k_head(c);
    var q = x8_nibbles(qs[c]);
    let k32 = 0x20202020u;
    for (var k = 0u; k < 4u; k++) {
        q[k] = x8_minus(q[k] | (x8_crumbs(hd.h0 >> (8u * k)) << 4u), k32);
        q[k + 4u] = x8_minus(q[k + 4u] | (x8_crumbs(hd.h1 >> (8u * k)) << 4u), k32);
    }
    return X8W(q, hd.d, vec2<f32>(0.0));
}
