// Q4_K: a chunk is one 32-element sub-block of a 256-element super-block:
// one unit of nibbles as in Q4_0 (byte j: element j low, j + 16 high). `sc`
// holds 4 words per super-block: d (low half) and dmin (high half), then
// the 12 bytes of the 8 packed 6-bit scales and mins as ggml stores them
// (decoded by qk_scale_min, q_parts.wgsl). Value (d * scale) * q - dmin * min.
const CH: u32 = 32u;
const CV: u32 = 8u;

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
