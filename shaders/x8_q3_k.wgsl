// Q3_K (layout: q_q3_k.wgsl): a chunk is 64 elements, so block c is half
// c & 1 of chunk c >> 1: words 2h and 2h + 1 of the unit, 16 elements each
// with their own 6-bit scale. w = (d * scale) * (q - 4 where its high bit
// is clear), as int8 (q | high << 2) - 4.
const X8_HALF_M: bool = false;

fn x8_weights(c: u32) -> X8W {
    let ch = c >> 1u;
    let h = c & 1u;
    let hd = q3k_head(ch);
    // Bit l: element l of this block.
    let hm = sc[hd.o + 2u * hd.s + h];
    let v = qs[ch];
    var q: array<u32, 8>;
    var dh: array<f32, 2>;
    for (var e = 0u; e < 2u; e++) {
        // Word g of the unit: elements 16e..16e+16 of this block.
        let g = 2u * h + e;
        dh[e] = q3k_scale(hd, g);
        for (var k = 0u; k < 4u; k++) {
            let b = x8_crumbs(v[g] >> (8u * k)) | (x8_bits(hm >> (16u * e + 4u * k)) << 2u);
            q[4u * e + k] = x8_minus(b, 0x04040404u);
        }
    }
    return X8W(q, vec2<f32>(dh[0], dh[1]), vec2<f32>(0.0));
}
