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
    let q = q5_values(qs[c], sc[base + 1u + (c & 1u)]);
    var w: array<vec4<f32>, CV>;
    for (var i = 0u; i < CV; i++) {
        w[i] = d * (vec4<f32>(q[i]) - 16.0);
    }
    return w;
}
