// matmul epilogue of the fused Q/K/V projection: output rows are q_dim rows
// of q, then kv_dim rows of k, then kv_dim rows of v. q and k are rotated
// (RoPE, ggml's normal mode: pairs (2i, 2i + 1) of each head with
// 2i < rope_dim, by pos * inv_freq[i], pos = pos0 + t); q goes to `q`, k and
// v straight into the caches at row pos (as f32, or as f16 pairs packed in
// one word when kv_f16 = 1), or with kv_at_token = 1 into row t of f32
// staging buffers (for kv_store_q8.wgsl). Rows come in (even, odd) pairs.

@group(0) @binding(BIND_Q) var<storage, read_write> q: array<f32>;
@group(0) @binding(BIND_K_CACHE) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(BIND_V_CACHE) var<storage, read_write> v_cache: array<u32>;
@group(0) @binding(BIND_INV_FREQ) var<storage, read> inv_freq: array<f32>;

const TAU: f32 = 6.283185307179586;

fn rope_pair(r: u32, pos: u32, a: f32, b: f32) -> vec2<f32> {
    let i = (r % p.head_dim) / 2u;
    if (i >= p.half_rot) {
        return vec2<f32>(a, b);
    }
    let ang = f32(pos) * inv_freq[i];
    // Reduce to [-pi, pi]: sin/cos are only accurate there on some GPUs.
    let a0 = ang - TAU * round(ang / TAU);
    let c = cos(a0);
    let s = sin(a0);
    return vec2<f32>(a * c - b * s, a * s + b * c);
}

fn kv_put(is_k: bool, pos: u32, t: u32, r: u32, v: vec2<f32>) {
    let row = select(pos, t, p.kv_at_token != 0u);
    if (row >= p.max_ctx) {
        return;
    }
    let e = row * p.kv_dim + r;
    if (p.kv_f16 != 0u) {
        let w = pack2x16float(v);
        if (is_k) {
            k_cache[e / 2u] = w;
        } else {
            v_cache[e / 2u] = w;
        }
    } else {
        let w = bitcast<vec2<u32>>(v);
        if (is_k) {
            k_cache[e] = w.x;
            k_cache[e + 1u] = w.y;
        } else {
            v_cache[e] = w.x;
            v_cache[e + 1u] = w.y;
        }
    }
}

fn mm_out1(row: u32, t: u32, v: f32) {}

fn mm_out2(row: u32, t: u32, a: f32, b: f32) {
    let pos = step.pos0 + t;
    if (row < p.q_dim) {
        let o = rope_pair(row, pos, a, b);
        q[t * p.q_dim + row] = o.x;
        q[t * p.q_dim + row + 1u] = o.y;
    } else if (row < p.q_dim + p.kv_dim) {
        let r = row - p.q_dim;
        kv_put(true, pos, t, r, rope_pair(r, pos, a, b));
    } else {
        kv_put(false, pos, t, row - p.q_dim - p.kv_dim, vec2<f32>(a, b));
    }
}
