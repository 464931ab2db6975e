// acc += x, element-wise over n_tokens rows of n.
// Generated constants: WG. Grid: linear, folded.

struct EwParams {
    n: u32,    // elements per row
    cap: u32,
    _a: u32,
    _b: u32,
}

@group(0) @binding(BIND_PARAMS) var<uniform> p: EwParams;
@group(0) @binding(BIND_ACC) var<storage, read_write> acc: array<f32>;
@group(0) @binding(BIND_X) var<storage, read> x: array<f32>;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear_group(wid, nwg) * WG + li;
    if (idx >= min(step.n_tokens, p.cap) * p.n) {
        return;
    }
    acc[idx] += x[idx];
}
