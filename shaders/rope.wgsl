// Rotary position embedding, ggml's "normal" mode (the llama arch): in place,
// pairs (x[2i], x[2i+1]) of each head with 2i < rope_dim are rotated by
// pos * inv_freq[i], pos = pos0 + t. inv_freq is computed on the CPU.
// Generated constants: WG. Grid: linear over (token, head, pair), folded.

struct RopeParams {
    n_heads: u32,
    head_dim: u32,
    half_rot: u32,    // rope_dim / 2
    row_stride: u32,  // floats per token row
    cap: u32,
    _a: u32,
    _b: u32,
    _c: u32,
}

@group(0) @binding(BIND_PARAMS) var<uniform> p: RopeParams;
@group(0) @binding(BIND_X) var<storage, read_write> x: array<f32>;
@group(0) @binding(BIND_INV_FREQ) var<storage, read> inv_freq: array<f32>;

const TAU: f32 = 6.283185307179586;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear_group(wid, nwg) * WG + li;
    let per_token = p.n_heads * p.half_rot;
    let n = min(step.n_tokens, p.cap);
    if (idx >= n * per_token) {
        return;
    }
    let t = idx / per_token;
    let r = idx % per_token;
    let h = r / p.half_rot;
    let i = r % p.half_rot;
    let a = f32(step.pos0 + t) * inv_freq[i];
    // Reduce to [-pi, pi]: sin/cos are only accurate there on some GPUs.
    let a0 = a - TAU * round(a / TAU);
    let c = cos(a0);
    let s = sin(a0);
    let off = t * p.row_stride + h * p.head_dim + 2u * i;
    let x0 = x[off];
    let x1 = x[off + 1u];
    x[off] = x0 * c - x1 * s;
    x[off + 1u] = x0 * s + x1 * c;
}
