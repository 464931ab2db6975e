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

// Q3_K, Q6_K: their super-blocks come in pairs of `pair` words of `sc`: one
// word of both f16 scales d (the even super-block's in the low half), then
// `own` words of each. The d of super-block sb and its first own word.
struct KPair {
    d: f32,
    o: u32,
}

fn k_pair(sb: u32, pair: u32, own: u32) -> KPair {
    let base = (sb >> 1u) * pair;
    let dd = unpack2x16float(sc[base]);
    let odd = (sb & 1u) == 1u;
    return KPair(select(dd.x, dd.y, odd), base + 1u + select(0u, own, odd));
}

// Q3_K (layout: q_q3_k.wgsl): where 64-element chunk c's header lies, with
// the two words of its sub-block scales' bits (`lw` the low nibbles, `hw`
// the top bits), read once per chunk.
struct Q3kHead {
    d: f32,  // the super-block's scale
    o: u32,  // its first word in `sc`
    s: u32,  // chunk of the super-block, 0..4
    lw: u32,
    hw: u32,
}

fn q3k_head(c: u32) -> Q3kHead {
    let k = k_pair(c >> 2u, 23u, 11u);
    let s = c & 3u;
    return Q3kHead(k.d, k.o, s, sc[k.o + 8u + (s & 1u)], sc[k.o + 10u]);
}

// d times the signed 6-bit scale of word g of the chunk's unit (elements
// 16g..16g+16): low nibble s >> 1 of byte g of `lw`, top bits 2s of byte g
// of `hw`.
fn q3k_scale(h: Q3kHead, g: u32) -> f32 {
    let lo = (h.lw >> (8u * g + 4u * (h.s >> 1u))) & 15u;
    let hi = (h.hw >> (8u * g + 2u * h.s)) & 3u;
    return h.d * f32(i32(lo | (hi << 4u)) - 32);
}

// Q6_K (layout: q_q6_k.wgsl): chunk c's header: d times the two signed
// sub-block scales (elements 0..16, 16..32), and its two words of high bit
// pairs.
struct Q6kHead {
    d: vec2<f32>,
    h0: u32,
    h1: u32,
}

fn q6k_head(c: u32) -> Q6kHead {
    let k = k_pair(c >> 3u, 41u, 20u);
    let s = c & 7u;
    let sw = sc[k.o + 16u + (s >> 1u)] >> (16u * (s & 1u));
    // The two scale bytes, sign-extended.
    let s2 = vec2<f32>(f32(bitcast<i32>(sw << 24u) >> 24u), f32(bitcast<i32>(sw << 16u) >> 24u));
    return Q6kHead(k.d * s2, sc[k.o + 2u * s], sc[k.o + 2u * s + 1u]);
}
