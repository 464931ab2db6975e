// Q5_K: as Q4_K, with 12 words per super-block in `sc`: d and dmin, the 12
// scale bytes, then one word of high bits per sub-block (bit i is bit 4 of
// element i of the chunk). Value (d * scale) * q - dmin * min.
const CH: u32 = 32u;
const CV: u32 = 8u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let base = (c >> 3u) * 12u;
    let dm = unpack2x16float(sc[base]);
    let sm = qk_scale_min(base + 1u, c & 7u);
    let d1 = dm.x * sm.x;
    let m1 = dm.y * sm.y;
    let q = q5_values(qs[c], sc[base + 4u + (c & 7u)]);
    var w: array<vec4<f32>, CV>;
    for (var i = 0u; i < CV; i++) {
        w[i] = d1 * vec4<f32>(q[i]) - m1;
    }
    return w;
}
