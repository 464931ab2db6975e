// Q5_0, Q5_1, Q5_K: the nibbles of the unit `v` (as Q4_0) with bit 4 of
// element i from bit i of `qh`, spread to bit 4 of its byte.
fn x8_q5_words(v: vec4<u32>, qh: u32) -> array<u32, 8> {
    var q = x8_nibbles(v);
    for (var k = 0u; k < 4u; k++) {
        q[k] |= x8_bits(qh >> (4u * k)) << 4u;
        q[k + 4u] |= x8_bits(qh >> (16u + 4u * k)) << 4u;
    }
    return q;
}
