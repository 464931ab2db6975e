// Q8_0 against 8-bit x blocks: the weight words are packed i8 in the byte
// order of the x words; the block's sum is d * dx * sum(q * qx).
fn x8_dot(c: u32, x0: vec4<u32>, x1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let s = unpack2x16float(sc[c >> 1u]);
    let d = select(s.x, s.y, (c & 1u) == 1u);
    let lo = qs[2u * c];
    let hi = qs[2u * c + 1u];
    var i = 0;
    for (var k = 0u; k < 4u; k++) {
        i += dot4I8Packed(lo[k], x0[k]) + dot4I8Packed(hi[k], x1[k]);
    }
    return d * ds.x * f32(i);
}
