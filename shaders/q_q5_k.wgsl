// Q5_K: as Q4_K, with 12 words per super-block in `sc`: d and dmin, the 12
// scale bytes, then one word of high bits per sub-block (bit i is bit 4 of
// element i of the chunk). Value (d * scale) * q - dmin * min.
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
    let base = (c >> 3u) * 12u;
    let dm = unpack2x16float(sc[base]);
    let sm = qk_scale_min(base + 1u, c & 7u);
    let d1 = dm.x * sm.x;
    let m1 = dm.y * sm.y;
    let qh = vec4<u32>(sc[base + 4u + (c & 7u)]);
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
        w[k] = d1 * vec4<f32>(lo) - m1;
        w[k + 4u] = d1 * vec4<f32>(hi) - m1;
    }
    return w;
}
