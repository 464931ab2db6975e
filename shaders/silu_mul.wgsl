// out = silu(gate) * up, element-wise over n_tokens rows of n.
// Generated constants: WG. Grid: linear, folded.

struct EwParams {
    n: u32,    // elements per row
    cap: u32,
    _a: u32,
    _b: u32,
}

@group(0) @binding(BIND_PARAMS) var<uniform> p: EwParams;
@group(0) @binding(BIND_GATE) var<storage, read> gate: array<f32>;
@group(0) @binding(BIND_UP) var<storage, read> up: array<f32>;
@group(0) @binding(BIND_OUT) var<storage, read_write> out: array<f32>;

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
    let g = gate[idx];
    out[idx] = g / (1.0 + exp(-g)) * up[idx];
}
