// Q8_0: a chunk is one 32-element block: 8 words of signed bytes (two units),
// the f16 scale packed two blocks per word in `sc`.
const CH: u32 = 32u;
const CV: u32 = 8u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let s = unpack2x16float(sc[c >> 1u]);
    let d = select(s.x, s.y, (c & 1u) == 1u);
    let lo = qs[2u * c];
    let hi = qs[2u * c + 1u];
    let sh = vec4<u32>(24u, 16u, 8u, 0u);
    var w: array<vec4<f32>, CV>;
    for (var k = 0u; k < 4u; k++) {
        // Move byte j to the top, then shift back arithmetically: sign extension.
        w[k] = d * vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(lo[k]) << sh) >> vec4<u32>(24u));
        w[k + 4u] = d * vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(hi[k]) << sh) >> vec4<u32>(24u));
    }
    return w;
}
