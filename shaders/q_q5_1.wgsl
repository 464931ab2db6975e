// Q5_1: as Q5_0, but `sc` holds two words per block: d (low half) and m
// (high half), then qh. Value d * q + m.
const CH: u32 = 32u;
const CV: u32 = 8u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let dm = unpack2x16float(sc[2u * c]);
    let qh = vec4<u32>(sc[2u * c + 1u]);
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
        w[k] = dm.x * vec4<f32>(lo) + dm.y;
        w[k + 4u] = dm.x * vec4<f32>(hi) + dm.y;
    }
    return w;
}
