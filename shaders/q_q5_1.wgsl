// Q5_1: as Q5_0, but `sc` holds two words per block: d (low half) and m
// (high half), then qh. Value d * q + m.
const CH: u32 = 32u;
const CV: u32 = 8u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let dm = unpack2x16float(sc[2u * c]);
    let q = q5_values(qs[c], sc[2u * c + 1u]);
    var w: array<vec4<f32>, CV>;
    for (var i = 0u; i < CV; i++) {
        w[i] = dm.x * vec4<f32>(q[i]) + dm.y;
    }
    return w;
}
