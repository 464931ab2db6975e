// Q4_1 against 8-bit x blocks: the nibbles as in x8_q4_0.wgsl, w = d * q + m,
// so the block's sum is d * dx * sum(q * qx) + m * s.
fn x8_dot(c: u32, x0: vec4<u32>, x1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let dm = unpack2x16float(sc[c]);
    let v = qs[c];
    let m = 0x0f0f0f0fu;
    var i = 0;
    for (var k = 0u; k < 4u; k++) {
        i += dot4I8Packed(v[k] & m, x0[k]) + dot4I8Packed((v[k] >> 4u) & m, x1[k]);
    }
    return dm.x * ds.x * f32(i) + dm.y * ds.y;
}
