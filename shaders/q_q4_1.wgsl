// Q4_1: as Q4_0, but `sc` holds one word per block: d (low half), m (high
// half). Value d * q + m.
const CH: u32 = 32u;
const CV: u32 = 8u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let dm = unpack2x16float(sc[c]);
    let v = qs[c];
    let sh = vec4<u32>(0u, 8u, 16u, 24u);
    let m = vec4<u32>(15u);
    var w: array<vec4<f32>, CV>;
    for (var k = 0u; k < 4u; k++) {
        let b = vec4<u32>(v[k]) >> sh;
        w[k] = dm.x * vec4<f32>(b & m) + dm.y;
        w[k + 4u] = dm.x * vec4<f32>((b >> vec4<u32>(4u)) & m) + dm.y;
    }
    return w;
}
