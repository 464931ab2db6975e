// Quantizes the step's keys and values (f32 staging rows, row t = token t)
// into 8-bit cache rows at pos0 + t (layout: see attention_kv_q8.wgsl). Per
// block of 32: d = max|x| / 127, q = round(x / d) (0 where d = 0).
// Generated constants: WG. Grid: linear over (token, block), folded.

struct KvQ8Params {
    kv_dim: u32,
    max_ctx: u32,  // rows the caches hold
    cap: u32,      // token rows the staging buffers hold
    _a: u32,
}

@group(0) @binding(BIND_PARAMS) var<uniform> p: KvQ8Params;
@group(0) @binding(BIND_K) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(BIND_V) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(BIND_K_CACHE) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(BIND_V_CACHE) var<storage, read_write> v_cache: array<u32>;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let blocks = p.kv_dim / 32u;
    let idx = linear_group(wid, nwg) * WG + li;
    let n = min(step.n_tokens, p.cap);
    if (idx >= n * blocks) {
        return;
    }
    let t = idx / blocks;
    let b = idx % blocks;
    let pos = step.pos0 + t;
    if (pos >= p.max_ctx) {
        return;
    }
    let src = (t * p.kv_dim + 32u * b) / 4u;
    let row = pos * (p.kv_dim / 4u + blocks);
    for (var h = 0u; h < 2u; h++) {
        var x: array<vec4<f32>, 8>;
        var amax = 0.0;
        for (var i = 0u; i < 8u; i++) {
            if (h == 0u) {
                x[i] = k[src + i];
            } else {
                x[i] = v[src + i];
            }
            let a = abs(x[i]);
            amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
        }
        let d = amax / 127.0;
        var id = 0.0;
        if (d > 0.0) {
            id = 1.0 / d;
        }
        for (var i = 0u; i < 8u; i++) {
            let q = clamp(vec4<i32>(round(x[i] * id)), vec4<i32>(-127), vec4<i32>(127));
            let w = pack4xI8(q);
            if (h == 0u) {
                k_cache[row + 8u * b + i] = w;
            } else {
                v_cache[row + 8u * b + i] = w;
            }
        }
        if (h == 0u) {
            k_cache[row + p.kv_dim / 4u + b] = bitcast<u32>(d);
        } else {
            v_cache[row + p.kv_dim / 4u + b] = bitcast<u32>(d);
        }
    }
}
