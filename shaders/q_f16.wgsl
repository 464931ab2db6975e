// F16 weights: a chunk is 8 consecutive elements, two halves per word.
const CH: u32 = 8u;
const CV: u32 = 2u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let v = qs[c];
    return array<vec4<f32>, CV>(
        vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)),
        vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)),
    );
}
