// BF16 weights: a chunk is 8 consecutive elements, two per word (element 2i
// in the low half). A bf16 is the top half of an f32.
const CH: u32 = 8u;
const CV: u32 = 2u;

fn load_chunk(c: u32) -> array<vec4<f32>, CV> {
    let v = qs[c];
    let lo = bitcast<vec4<f32>>(v << vec4<u32>(16u));
    let hi = bitcast<vec4<f32>>(v & vec4<u32>(0xffff0000u));
    return array<vec4<f32>, CV>(
        vec4<f32>(lo.x, hi.x, lo.y, hi.y),
        vec4<f32>(lo.z, hi.z, lo.w, hi.w),
    );
}
