// Quantizes token rows of x to 8-bit blocks of 32 for the integer-dot
// matmul (matmul_x8.wgsl), Q8_1-style: with x' a row (RMS-normalized on
// the fly and scaled by the norm weight when NORMED = 1, as in
// matmul_x_norm.wgsl), per block b: d = max|x'| / 127, q = round(x' / d)
// (0 where d = 0), s = d * sum(q) (what the weight types with an offset
// need).
//
// `xq` holds one quantized row per token, each in 16-byte units: units 2b,
// 2b + 1 hold the 32 q of block b as packed i8 (element 4i + j in byte j of
// word i, like Q8_0 weights); then, from unit 2 * blocks on, one unit per
// pair of blocks: (d, s) of the even block and (d, s) of the odd one, as f32
// bits (zeros past the last block).
//
// One workgroup of WG threads per token row: workgroup y quantizes token y
// into row y, or with last_only the one workgroup takes the step's last
// token into row 0 (the row the logits use). A decode step is then one
// workgroup, and that is enough: with the 256 threads of a GPU, a row of up
// to 16384 values is one pair of blocks per thread (more workgroups could
// not make a thread's work shorter, and each would redo the row's sum of
// squares for the norm), so the pass costs one short dispatch.

struct QxParams {
    x_stride: u32,   // vec4s per x row (= cols / 4)
    blocks: u32,     // blocks of 32 per row
    last_only: u32,  // 1: the row of token n_tokens - 1, else token 0
    cap: u32,        // token rows x holds
    eps: f32,        // NORMED: epsilon
}

@group(0) @binding(BIND_PARAMS) var<uniform> p: QxParams;
@group(0) @binding(BIND_X) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(BIND_NORM_W) var<storage, read> nw_buf: array<vec4<f32>>;
@group(0) @binding(BIND_XQ) var<storage, read_write> xq: array<vec4<u32>>;

var<workgroup> ss: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let n = min(step.n_tokens, p.cap);
    var t = wid.y;
    var row = wid.y;
    if (p.last_only != 0u && n > 0u) {
        t = n - 1u;
        row = 0u;
    }
    if (t >= n) {
        return;
    }
    let xb = t * p.x_stride;
    let pairs = (p.blocks + 1u) / 2u;
    let qb = row * (2u * p.blocks + pairs);

    var inv = 1.0;
    if (NORMED == 1u) {
        var s = 0.0;
        for (var i = li; i < p.x_stride; i += WG) {
            let v = x[xb + i];
            s += dot(v, v);
        }
        ss[li] = s;
        workgroupBarrier();
        for (var h = WG / 2u; h > 0u; h >>= 1u) {
            if (li < h) {
                ss[li] += ss[li + h];
            }
            workgroupBarrier();
        }
        inv = inverseSqrt(ss[0] / f32(p.x_stride * 4u) + p.eps);
    }

    for (var pr = li; pr < pairs; pr += WG) {
        var ds = vec4<f32>(0.0);
        for (var h = 0u; h < 2u; h++) {
            let b = 2u * pr + h;
            if (b < p.blocks) {
                var v: array<vec4<f32>, 8>;
                var amax = 0.0;
                for (var i = 0u; i < 8u; i++) {
                    var e = x[xb + 8u * b + i];
                    if (NORMED == 1u) {
                        e *= nw_buf[8u * b + i] * inv;
                    }
                    v[i] = e;
                    let a = abs(e);
                    amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
                }
                let d = amax / 127.0;
                var id = 0.0;
                if (d > 0.0) {
                    id = 1.0 / d;
                }
                var w: array<u32, 8>;
                var qsum = 0;
                for (var i = 0u; i < 8u; i++) {
                    let q = clamp(vec4<i32>(round(v[i] * id)), vec4<i32>(-127), vec4<i32>(127));
                    qsum += q.x + q.y + q.z + q.w;
                    w[i] = pack4xI8(q);
                }
                xq[qb + 2u * b] = vec4<u32>(w[0], w[1], w[2], w[3]);
                xq[qb + 2u * b + 1u] = vec4<u32>(w[4], w[5], w[6], w[7]);
                ds[2u * h] = d;
                ds[2u * h + 1u] = d * f32(qsum);
            }
        }
        xq[qb + 2u * p.blocks + pr] = bitcast<vec4<u32>>(ds);
    }
}
