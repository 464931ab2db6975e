// Q4_K: a chunk is one 32-element sub-block of a 256-element super-block:
// one unit of nibbles as in Q4_0 (byte j: element j low, j + 16 high). `sc`
// holds 4 words per super-block: d (low half) and dmin (high half), then
// the 12 bytes of the 8 packed 6-bit scales and mins as ggml stores them
// (sub-blocks 0..4: the low 6 bits of bytes j and j + 4; 4..8: the nibbles
// of byte j + 4 plus the top 2 bits of bytes j - 4 and j). Value
// (d * scale) * q - dmin * min.
const CH: u32 = 32u;
const CV: u32 = 8u;

// The (scale, min) of sub-block j of the super-block whose scale bytes
// start at word o of `sc`.
fn qk_scale_min(o: u32, j: u32) -> vec2<f32> {
    let jj = j & 3u;
    let a = (sc[o] >> (8u * jj)) & 0xffu;
    let b = (sc[o + 1u] >> (8u * jj)) & 0xffu;
    if (j < 4u) {
        return vec2<f32>(f32(a & 63u), f32(b & 63u));
    }
    let cc = (sc[o + 2u] >> (8u * jj)) & 0xffu;
    return vec2<f32>(f32((cc & 15u) | ((a >> 6u) << 4u)), f32((cc >> 4u) | ((b >> 6u) << 4u)));
}

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let base = (c >> 3u) * 4u;
    let dm = unpack2x16float(sc[base]);
    let sm = qk_scale_min(base + 1u, c & 7u);
    let d1 = dm.x * sm.x;
    let m1 = dm.y * sm.y;
    let v = qs[c];
    let sh = vec4<u32>(0u, 8u, 16u, 24u);
    let m = vec4<u32>(15u);
    var w: array<vec4<f32>, CV>;
    for (var k = 0u; k < 4u; k++) {
        let b = vec4<u32>(v[k]) >> sh;
        w[k] = d1 * vec4<f32>(b & m) - m1;
        w[k + 4u] = d1 * vec4<f32>((b >> vec4<u32>(4u)) & m) - m1;
    }
    return w;
}
