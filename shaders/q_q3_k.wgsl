// Q3_K: a chunk is 64 elements (a quarter of a super-block): one unit of the
// low 2 bits, packed as Q2_K's. `sc` holds 23 words per pair of super-blocks:
// both f16 scales d (even super-block in the low half), then 11 words for
// each super-block: 8 words of high bits (word 2s + h, bit l: element
// 32h + l of chunk s; a clear bit subtracts 4) and the 12 bytes of the 16
// signed 6-bit sub-block scales as ggml packs them (scale i: low 4 bits in
// nibble i / 8 of byte i % 8, top 2 bits at bit 2 * (i / 4) of byte
// 8 + i % 4, offset by 32). Value (d * scale) * q.
const CH: u32 = 64u;
const CV: u32 = 16u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let hd = q3k_head(c);
    let h0 = sc[hd.o + 2u * hd.s];
    let h1 = sc[hd.o + 2u * hd.s + 1u];
    let v = qs[c];
    let sh = vec4<u32>(0u, 2u, 4u, 6u);
    let hb = vec4<u32>(0u, 1u, 2u, 3u);
    var w: array<vec4<f32>, CV>;
    for (var g = 0u; g < 4u; g++) {
        let dl = q3k_scale(hd, g);
        let hm = select(h0, h1, g >= 2u);
        for (var k = 0u; k < 4u; k++) {
            let q = (vec4<u32>(v[g]) >> (sh + vec4<u32>(8u * k))) & vec4<u32>(3u);
            let h = (vec4<u32>(hm) >> (hb + vec4<u32>(16u * (g & 1u) + 4u * k))) & vec4<u32>(1u);
            // q - 4 where the high bit is clear.
            w[4u * g + k] = dl * (vec4<f32>(q) - 4.0 + 4.0 * vec4<f32>(h));
        }
    }
    return w;
}
