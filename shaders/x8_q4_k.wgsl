// Q4_K against 8-bit x blocks (layout: q_q4_k.wgsl): a chunk is one
// sub-block of 32, nibbles as in x8_q4_0.wgsl, w = (d * scale) * q -
// dmin * min, so the block's sum is d * scale * dx * sum(q * qx) -
// dmin * min * s (x blocks and sub-blocks are both 32 wide).
fn x8_dot(c: u32, x0: vec4<u32>, x1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let base = (c >> 3u) * 4u;
    let dm = unpack2x16float(sc[base]);
    let sm = qk_scale_min(base + 1u, c & 7u);
    let v = qs[c];
    let m = 0x0f0f0f0fu;
    var i = 0;
    for (var k = 0u; k < 4u; k++) {
        i += dot4I8Packed(v[k] & m, x0[k]) + dot4I8Packed((v[k] >> 4u) & m, x1[k]);
    }
    return dm.x * sm.x * ds.x * f32(i) - dm.y * sm.y * ds.y;
}
