// Decoding parts shared by several weight types' snippets (prepended to
// them on the Rust side).

// The 32 five-bit values of a chunk: the low nibbles of the unit `v` as in
// Q4_0 (byte j: element j low nibble, j + 16 high) and bit i of `qh` as
// bit 4 of element i. Element 4k + l of the low half is q[k][l], of the
// high half q[k + 4][l].
fn q5_values(v: vec4<u32>, qh_word: u32) -> array<vec4<u32>, 8> {
    let qh = vec4<u32>(qh_word);
    let sh = vec4<u32>(0u, 8u, 16u, 24u);
    let hb = vec4<u32>(0u, 1u, 2u, 3u);
    let m = vec4<u32>(15u);
    let one = vec4<u32>(1u);
    var q: array<vec4<u32>, 8>;
    for (var k = 0u; k < 4u; k++) {
        let b = vec4<u32>(v[k]) >> sh;
        let h = qh >> (hb + vec4<u32>(4u * k));
        q[k] = (b & m) | ((h & one) << vec4<u32>(4u));
        q[k + 4u] = ((b >> vec4<u32>(4u)) & m) | (((h >> vec4<u32>(16u)) & one) << vec4<u32>(4u));
    }
    return q;
}

// Q4_K / Q5_K: the (scale, min) of sub-block j of the super-block whose 12
// packed scale bytes start at word o of `sc` (sub-blocks 0..4: the low 6
// bits of bytes j and j + 4; 4..8: the nibbles of byte j + 4 plus the top 2
// bits of bytes j - 4 and j).
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
