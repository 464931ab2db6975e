// Q2_K: a chunk is 64 elements (a quarter of a 256-element super-block):
// one unit of 2-bit quants, word w holding elements 16w..16w+16 (element
// 16w + i in bits 2i..2i+2). `sc` holds 5 words per super-block: d (low
// half) and dmin (high half), then the 16 sub-block bytes (scale in the low
// nibble, min in the high one), 4 per word, one word per chunk: byte w is
// for elements 16w..16w+16. Value (d * scale) * q - dmin * min.
const CH: u32 = 64u;
const CV: u32 = 16u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let base = (c >> 2u) * 5u;
    let dm = unpack2x16float(sc[base]);
    let sw = sc[base + 1u + (c & 3u)];
    let v = qs[c];
    let sh = vec4<u32>(0u, 2u, 4u, 6u);
    var w: array<vec4<f32>, CV>;
    for (var g = 0u; g < 4u; g++) {
        let s = (sw >> (8u * g)) & 0xffu;
        let dl = dm.x * f32(s & 15u);
        let ml = dm.y * f32(s >> 4u);
        for (var k = 0u; k < 4u; k++) {
            let q = (vec4<u32>(v[g]) >> (sh + vec4<u32>(8u * k))) & vec4<u32>(3u);
            w[4u * g + k] = dl * vec4<f32>(q) - ml;
        }
    }
    return w;
}
