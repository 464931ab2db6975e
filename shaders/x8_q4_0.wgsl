// Q4_0 against 8-bit x blocks (see q_q4_0.wgsl for the layout): word i of
// the unit masked with 0x0f0f0f0f holds elements 4i..4i+4 as bytes (low
// nibbles), shifted right by 4 elements 16+4i.. (high nibbles): 4 weights per
// mask, in the byte order of the x words. w = d * (q - 8), so the block's
// sum is d * (dx * sum(q * qx) - 8 * s).
fn x8_dot(c: u32, x0: vec4<u32>, x1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let s = unpack2x16float(sc[c >> 1u]);
    let d = select(s.x, s.y, (c & 1u) == 1u);
    let v = qs[c];
    let m = 0x0f0f0f0fu;
    var i = 0;
    for (var k = 0u; k < 4u; k++) {
        i += dot4I8Packed(v[k] & m, x0[k]) + dot4I8Packed((v[k] >> 4u) & m, x1[k]);
    }
    return d * (ds.x * f32(i) - 8.0 * ds.y);
}
