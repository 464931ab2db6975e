// Q6_K: a chunk is 32 elements (an eighth of a super-block): one unit with
// the low 4 bits as nibbles (byte j: element j low, j + 16 high). `sc` holds
// 41 words per pair of super-blocks: both f16 scales d (even super-block in
// the low half), then 20 words for each super-block: per chunk two words of
// high 2-bit pairs (elements 0..16, then 16..32; element i in bits
// 2i..2i+2), then the 16 signed 8-bit sub-block scales (byte 2s + h is for
// elements 16h..16h+16 of chunk s). Value (d * scale) * (q - 32).
const CH: u32 = 32u;
const CV: u32 = 8u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let hd = q6k_head(c);
    let h0 = vec4<u32>(hd.h0);
    let h1 = vec4<u32>(hd.h1);
    let v = qs[c];
    let sh = vec4<u32>(0u, 8u, 16u, 24u);
    let hb = vec4<u32>(0u, 2u, 4u, 6u);
    let m = vec4<u32>(15u);
    let three = vec4<u32>(3u);
    var w: array<vec4<f32>, CV>;
    for (var k = 0u; k < 4u; k++) {
        let b = vec4<u32>(v[k]) >> sh;
        let hs = hb + vec4<u32>(8u * k);
        let lo = (b & m) | (((h0 >> hs) & three) << vec4<u32>(4u));
        let hi = ((b >> vec4<u32>(4u)) & m) | (((h1 >> hs) & three) << vec4<u32>(4u));
        w[k] = hd.d.x * (vec4<f32>(lo) - 32.0);
        w[k + 4u] = hd.d.y * (vec4<f32>(hi) - 32.0);
    }
    return w;
}
