// out[0] = the index of the largest of logits[0..n]; ties go to the lowest
// index; NaNs are skipped, and all-NaN logits give 0xffffffff (broken
// weights: the caller reports it). One workgroup. Generated constants: WG
// (power of 2).

struct ArgParams {
    n: u32,
    _a: u32,
    _b: u32,
    _c: u32,
}

@group(0) @binding(BIND_PARAMS) var<uniform> p: ArgParams;
@group(0) @binding(BIND_LOGITS) var<storage, read> logits: array<f32>;
@group(0) @binding(BIND_OUT) var<storage, read_write> out: array<u32>;

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

const NONE: u32 = 0xffffffffu;

// Whether (v, i) beats the current best (bv, bi).
fn beats(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    if (i == NONE) {
        return false;
    }
    if (bi == NONE) {
        return true;
    }
    return v > bv || (v == bv && i < bi);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32) {
    var bv = 0.0;
    var bi = NONE;
    for (var i = li; i < p.n; i += WG) {
        let v = logits[i];
        // v == v is false only for NaN.
        if (v == v && beats(v, i, bv, bi)) {
            bv = v;
            bi = i;
        }
    }
    best_v[li] = bv;
    best_i[li] = bi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s && beats(best_v[li + s], best_i[li + s], best_v[li], best_i[li])) {
            best_v[li] = best_v[li + s];
            best_i[li] = best_i[li + s];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        out[0] = best_i[0];
    }
}
