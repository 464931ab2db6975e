// out[t][:] = row tokens[t] of the table, for the rows this part holds.
// Generated constants: WG. Grid: linear over (token, chunk), folded into (x, y).

struct EmbedParams {
    rows: u32,        // rows in this part
    row0: u32,        // first row of the part
    cpr: u32,         // chunks per row
    total_rows: u32,  // rows of the whole table
    cap: u32,         // token rows the buffers hold
    zero_oob: u32,    // 1: this part writes zeros for ids past the table
    _a: u32,
    _b: u32,
}

@group(0) @binding(BIND_PARAMS) var<uniform> p: EmbedParams;
@group(0) @binding(BIND_QS) var<storage, read> qs: array<vec4<u32>>;
@group(0) @binding(BIND_SC) var<storage, read> sc: array<u32>;
@group(0) @binding(BIND_TOKENS) var<storage, read> tokens: array<u32>;
@group(0) @binding(BIND_OUT) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = linear_group(wid, nwg) * WG + li;
    let n = min(step.n_tokens, p.cap);
    if (idx >= n * p.cpr) {
        return;
    }
    let t = idx / p.cpr;
    let k = idx % p.cpr;
    let id = tokens[t];
    let ob = idx * CV;
    if (id >= p.row0 && id - p.row0 < p.rows) {
        var w = load_chunk((id - p.row0) * p.cpr + k);
        for (var i = 0u; i < CV; i++) {
            out[ob + i] = w[i];
        }
    } else if (p.zero_oob != 0u && id >= p.total_rows) {
        for (var i = 0u; i < CV; i++) {
            out[ob + i] = vec4<f32>(0.0);
        }
    }
}
