// Q5_0 / Q5_1 against 8-bit x blocks: sum(q * qx) of a block whose low 4
// bits are the unit `v` (as Q4_0) and whose bit 4 of element i is bit i of
// `qh`. The four high bits of a word's elements are spread to bit 4 of its
// bytes.
fn x8_spread4(b: u32) -> u32 {
    return ((b & 1u) | ((b & 2u) << 7u) | ((b & 4u) << 14u) | ((b & 8u) << 21u)) << 4u;
}

fn x8_q5_sum(v: vec4<u32>, qh: u32, x0: vec4<u32>, x1: vec4<u32>) -> i32 {
    let m = 0x0f0f0f0fu;
    var i = 0;
    for (var k = 0u; k < 4u; k++) {
        let lo = (v[k] & m) | x8_spread4((qh >> (4u * k)) & 15u);
        let hi = ((v[k] >> 4u) & m) | x8_spread4((qh >> (16u + 4u * k)) & 15u);
        i += dot4I8Packed(lo, x0[k]) + dot4I8Packed(hi, x1[k]);
    }
    return i;
}
