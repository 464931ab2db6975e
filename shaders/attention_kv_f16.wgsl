// Attention cache reads, f16 caches ([max_ctx][kv_dim] halves, two per
// word, the even element in the low half).

@group(0) @binding(BIND_K_CACHE) var<storage, read> k_cache: array<vec4<u32>>;
@group(0) @binding(BIND_V_CACHE) var<storage, read> v_cache: array<vec2<u32>>;

// Dims 8c..8c+8 of key j, in the KV head starting at vec4 off4 of a row.
fn kload8(j: u32, off4: u32, c: u32) -> array<vec4<f32>, 2> {
    let w = k_cache[j * (p.kv_dim / 8u) + off4 / 2u + c];
    return array<vec4<f32>, 2>(
        vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)),
        vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)),
    );
}

// Dims 4d4..4d4+4 of value j.
fn vload4(j: u32, off4: u32, d4: u32) -> vec4<f32> {
    let w = v_cache[j * (p.kv_dim / 4u) + off4 + d4];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
