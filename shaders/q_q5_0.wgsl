// Q5_0: a chunk is one 32-element block: 16 nibble bytes (one unit) as in
// Q4_0; bit i of the block's qh word is bit 4 of element i. `sc` holds 3
// words per pair of blocks: both f16 scales (even block in the low half),
// then qh of the even block, then qh of the odd one. Value d * (q - 16).
const CH: u32 = 32u;
const CV: u32 = 8u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let base = (c >> 1u) * 3u;
    let s = unpack2x16float(sc[base]);
    let d = select(s.x, s.y, (c & 1u) == 1u);
    let qh = vec4<u32>(sc[base + 1u + (c & 1u)]);
    let v = qs[c];
    let sh = vec4<u32>(0u, 8u, 16u, 24u);
    let hb = vec4<u32>(0u, 1u, 2u, 3u);
    let m = vec4<u32>(15u);
    let one = vec4<u32>(1u);
    var w: array<vec4<f32>, CV>;
    for (var k = 0u; k < 4u; k++) {
        let b = vec4<u32>(v[k]) >> sh;
        let h = qh >> (hb + vec4<u32>(4u * k));
        let lo = (b & m) | ((h & one) << vec4<u32>(4u));
        let hi = ((b >> vec4<u32>(4u)) & m) | (((h >> vec4<u32>(16u)) & one) << vec4<u32>(4u));
        w[k] = d * (vec4<f32>(lo) - 16.0);
        w[k + 4u] = d * (vec4<f32>(hi) - 16.0);
    }
    return w;
}
