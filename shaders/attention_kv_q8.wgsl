// Attention cache reads, 8-bit caches (see KvType::Q8_0): a row is kv_dim / 4
// words of packed int8 (element 4i + j in byte j of word i), then kv_dim / 32
// f32 scales, one per block of 32 elements.

@group(0) @binding(BIND_K_CACHE) var<storage, read> k_cache: array<u32>;
@group(0) @binding(BIND_V_CACHE) var<storage, read> v_cache: array<u32>;

fn q8_row_words() -> u32 {
    return p.kv_dim / 4u + p.kv_dim / 32u;
}

// Dims 8c..8c+8 of key j, in the KV head starting at vec4 off4 of a row
// (a multiple of 8 elements, so the 8 share one block).
fn kload8(j: u32, off4: u32, c: u32) -> array<vec4<f32>, 2> {
    let e = off4 * 4u + 8u * c;
    let base = j * q8_row_words();
    let d = bitcast<f32>(k_cache[base + p.kv_dim / 4u + e / 32u]);
    return array<vec4<f32>, 2>(
        vec4<f32>(unpack4xI8(k_cache[base + e / 4u])) * d,
        vec4<f32>(unpack4xI8(k_cache[base + e / 4u + 1u])) * d,
    );
}

// Dims 4d4..4d4+4 of value j.
fn vload4(j: u32, off4: u32, d4: u32) -> vec4<f32> {
    let e = (off4 + d4) * 4u;
    let base = j * q8_row_words();
    let d = bitcast<f32>(v_cache[base + p.kv_dim / 4u + e / 32u]);
    return vec4<f32>(unpack4xI8(v_cache[base + e / 4u])) * d;
}
