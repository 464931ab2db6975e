// What the 8-bit-activation kernels (matmul_x8.wgsl) share with the weight
// types' snippets (x8_*.wgsl).
//
// A snippet defines x8_weights(c), block c of 32 weights (blocks numbered
// along the rows, row * blocks + k), as an X8W: 32 int8 (or small unsigned)
// weights in the byte order of the x words, and per half block (elements
// 0..16, 16..32) a multiplier of its integer dot and one of its x sum. With
// an 8-bit x block (q, dx) the block's sum is then
//   dx * (d.x * sum(w q)[0..16] + d.y * sum(w q)[16..32]) + m.x * s.x + m.y * s.y
// where s holds dx * sum(q) of each half. Only types whose halves have
// different offsets (X8_HALF_M = true: Q2_K) need the two halves' sums; for
// the rest, m.x = m.y and the kernel passes s = (dx * sum(q) of the block, 0),
// which the quantization pass stored.
struct X8W {
    q: array<u32, 8>,
    d: vec2<f32>,
    m: vec2<f32>,
}

// The block's sum (above): `x` the 8 words of the x block, `dx` its scale.
fn x8_block(w: X8W, x0: vec4<u32>, x1: vec4<u32>, dx: f32, s: vec2<f32>) -> f32 {
    var i0 = 0;
    var i1 = 0;
    for (var k = 0u; k < 4u; k++) {
        i0 += dot4I8Packed(w.q[k], x0[k]);
        i1 += dot4I8Packed(w.q[k + 4u], x1[k]);
    }
    return dx * (w.d.x * f32(i0) + w.d.y * f32(i1)) + w.m.x * s.x + w.m.y * s.y;
}

// The sum of the 16 int8 x values of `x` (half a block).
fn x8_half_sum(x: vec4<u32>) -> i32 {
    let ones = 0x01010101u;
    return dot4I8Packed(ones, x[0]) + dot4I8Packed(ones, x[1]) + dot4I8Packed(ones, x[2])
        + dot4I8Packed(ones, x[3]);
}

// The nibbles of a 16-byte unit as two half blocks (byte j: element j in the
// low nibble, j + 16 in the high one; Q4_0, Q4_1, Q4_K).
fn x8_nibbles(v: vec4<u32>) -> array<u32, 8> {
    let m = 0x0f0f0f0fu;
    return array<u32, 8>(v[0] & m, v[1] & m, v[2] & m, v[3] & m,
        (v[0] >> 4u) & m, (v[1] >> 4u) & m, (v[2] >> 4u) & m, (v[3] >> 4u) & m);
}

// Bits 0..4 of `b` to bit 0 of bytes 0..4.
fn x8_bits(b: u32) -> u32 {
    return (b & 1u) | ((b & 2u) << 7u) | ((b & 4u) << 14u) | ((b & 8u) << 21u);
}

// The four 2-bit fields of the low byte of `b` (field j in bits 2j..2j+2) to
// bits 0..2 of bytes 0..4.
fn x8_crumbs(b: u32) -> u32 {
    return (b & 3u) | ((b & 0xcu) << 6u) | ((b & 0x30u) << 12u) | ((b & 0xc0u) << 18u);
}

// Every byte of `q` minus `k` (both below 128 per byte), as signed bytes:
// setting bit 7 first keeps a byte from borrowing from the next, and
// flipping it back leaves q - k in two's complement.
fn x8_minus(q: u32, k: u32) -> u32 {
    return ((q | 0x80808080u) - k) ^ 0x80808080u;
}
