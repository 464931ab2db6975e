// k_cache[pos0 + t][j] = k[t][j], v_cache likewise.
// Generated constants: WG. Grid: linear over (token, j), folded.

struct KvParams {
    kv_dim: u32,
    max_ctx: u32,  // rows the caches hold
    cap: u32,
    _a: u32,
}

@group(0) @binding(BIND_PARAMS) var<uniform> p: KvParams;
@group(0) @binding(BIND_K) var<storage, read> k: array<f32>;
@group(0) @binding(BIND_V) var<storage, read> v: array<f32>;
@group(0) @binding(BIND_K_CACHE) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(BIND_V_CACHE) var<storage, read_write> v_cache: array<f32>;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear_group(wid, nwg) * WG + li;
    let n = min(step.n_tokens, p.cap);
    if (idx >= n * p.kv_dim) {
        return;
    }
    let t = idx / p.kv_dim;
    let j = idx % p.kv_dim;
    let pos = step.pos0 + t;
    if (pos >= p.max_ctx) {
        return;
    }
    k_cache[pos * p.kv_dim + j] = k[idx];
    v_cache[pos * p.kv_dim + j] = v[idx];
}
