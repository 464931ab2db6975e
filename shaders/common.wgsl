// Shared by every kernel (prepended by the Rust side after the generated
// constants). The binding indices BIND_* are generated too, from each
// kernel's slot table (src/gpu/kernels/pipeline.rs): BIND_STEP (the
// per-step uniform) and BIND_PARAMS (the op's static parameters) come first
// in every op, the kernel's buffers after them.

struct StepParams {
    n_tokens: u32,
    pos0: u32,
    kv_len: u32,
    _pad: u32,
}

@group(0) @binding(BIND_STEP) var<uniform> step: StepParams;

// Dispatches larger than the per-dimension limit are folded: the Rust side
// spreads a linear group count over (x, y) (or (x, z) when y counts tokens).
fn linear_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

fn row_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.z * nwg.x;
}
