// Q4_0: a chunk is one 32-element block: 16 nibble bytes (one unit); byte j
// holds element j (low nibble) and element j + 16 (high nibble). The f16
// scale is packed two blocks per word in `sc`. Value d * (q - 8).
const CH: u32 = 32u;
const CV: u32 = 8u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let s = unpack2x16float(sc[c >> 1u]);
    let d = select(s.x, s.y, (c & 1u) == 1u);
    let v = qs[c];
    let sh = vec4<u32>(0u, 8u, 16u, 24u);
    let m = vec4<u32>(15u);
    var w: array<vec4<f32>, CV>;
    for (var k = 0u; k < 4u; k++) {
        let b = vec4<u32>(v[k]) >> sh;
        w[k] = d * (vec4<f32>(b & m) - 8.0);
        w[k + 4u] = d * (vec4<f32>((b >> vec4<u32>(4u)) & m) - 8.0);
    }
    return w;
}
