// F32 weights: a chunk is 4 consecutive elements, one 16-byte unit.
const CH: u32 = 4u;
const CV: u32 = 1u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    return array<vec4<f32>, CV>(bitcast<vec4<f32>>(qs[c]));
}
