// The parameters and weight bindings shared by the matmul kernels
// (matmul.wgsl, matmul_x8.wgsl); see matmul.wgsl for the rest.

struct MatParams {
    rows: u32,        // rows in this part
    row0: u32,        // first row of the part in the op's output rows
    cpr: u32,         // chunks per row
    x_stride: u32,    // vec4s per x row (= cols / 4)
    y_stride: u32,    // floats per y row
    accumulate: u32,  // 1: add to y
    last_only: u32,   // 1: only x row n_tokens - 1, into y row 0
    cap: u32,         // token rows the buffers hold
    eps: f32,         // norm prologue: epsilon
    q_dim: u32,       // RoPE epilogue: rows of q, then kv_dim rows of k, of v
    kv_dim: u32,
    head_dim: u32,
    half_rot: u32,    // rope_dim / 2
    max_ctx: u32,     // rows the KV caches hold
    kv_f16: u32,      // 1: the caches hold f16 pairs, 0: f32
    kv_at_token: u32, // 1: token t goes to cache row t (staging), 0: row pos0 + t
}

@group(0) @binding(BIND_PARAMS) var<uniform> p: MatParams;
@group(0) @binding(BIND_QS) var<storage, read> qs: array<vec4<u32>>;
@group(0) @binding(BIND_SC) var<storage, read> sc: array<u32>;
