// Q5_K against 8-bit x blocks (layout: q_q5_k.wgsl): Q4_K's scales and
// mins with a fifth bit per element (x8_q5_sum).
fn x8_dot(c: u32, x0: vec4<u32>, x1: vec4<u32>, ds: vec2<f32>) -> f32 {
    let base = (c >> 3u) * 12u;
    let dm = unpack2x16float(sc[base]);
    let sm = qk_scale_min(base + 1u, c & 7u);
    let i = x8_q5_sum(qs[c], sc[base + 4u + (c & 7u)], x0, x1);
    return dm.x * sm.x * ds.x * f32(i) - dm.y * sm.y * ds.y;
}
