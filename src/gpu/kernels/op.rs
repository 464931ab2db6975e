//! [`Op`]: pipelines bound to their buffers once, and the rule for the
//! workgroup counts of a step; recorded into a compute pass every step.

use super::attention::ATTN_SPLIT_KEYS;
use super::pipeline::Pipeline;

/// How many workgroups a dispatch needs for `n` tokens.
#[derive(Clone, Copy, Debug)]
pub(super) enum Grid {
    /// x (folded into z) = groups of the variant's `rows_per_group` of
    /// `rows`; y = groups of its `tokens_per_group` tokens (or 1).
    Rows { rows: u32, last_only: bool },
    /// A linear range of `items_per_token * n` invocations, `wg` per group,
    /// folded into (x, y).
    Linear { items_per_token: u64, wg: u32 },
    /// (x, n).
    #[cfg(feature = "testing")]
    PerToken { x: u32 },
    /// One workgroup.
    Single,
    /// (1, n) for steps of `min_tokens..=max_tokens` tokens, else none.
    TokenRows { min_tokens: u32, max_tokens: u32 },
    /// Attention: (KV heads, tiles of the variant's `rows_per_group` query
    /// rows over `n * group`, key splits).
    Attn { kv_heads: u32, group: u32 },
    /// Attention combine: (heads, n, key splits); only with splits > 1.
    Combine { heads: u32 },
}

/// Spreads `groups` workgroups over two dimensions of at most `max`.
fn fold(groups: u64, max: u32) -> (u32, u32) {
    let max = max.max(1) as u64;
    if groups <= max {
        (groups as u32, 1)
    } else {
        (max as u32, groups.div_ceil(max).min(u32::MAX as u64) as u32)
    }
}

/// One pipeline of a dispatch, chosen by the step's token count.
#[derive(Clone)]
pub(super) struct Variant {
    /// Used when n_tokens >= this (the last matching variant wins).
    pub min_tokens: u32,
    pub tokens_per_group: u32,
    pub rows_per_group: u32,
    pub pipeline: Pipeline,
}

impl Variant {
    /// The only variant of a dispatch.
    pub fn single(pipeline: Pipeline) -> Variant {
        Variant {
            min_tokens: 1,
            tokens_per_group: 1,
            rows_per_group: 1,
            pipeline,
        }
    }
}

/// A bind group created at build time, the pipelines that can run it (all
/// of one layout) and the rule for the workgroup count.
pub(super) struct Dispatch {
    pub bind_group: wgpu::BindGroup,
    pub variants: Vec<Variant>,
    pub grid: Grid,
}

/// What one recorded dispatch was (for per-kernel profiles).
#[cfg(feature = "testing")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DispatchInfo {
    /// Workgroups (x, y, z).
    pub groups: (u32, u32, u32),
}

/// A recorded op: one or more dispatches, recorded every step with
/// [`Op::record`].
pub struct Op {
    pub(super) dispatches: Vec<Dispatch>,
    /// The most token rows the op's buffers hold.
    pub(super) cap: u32,
    /// The device's workgroups-per-dimension limit.
    pub(super) max_dim: u32,
    /// Most key splits (attention; 1 = never split).
    pub(super) max_splits: u32,
    /// Buffers the op created (parameters, tables), kept with it.
    pub(super) _owned: Vec<wgpu::Buffer>,
}

impl Op {
    /// Records the op for a step of `n_tokens` tokens whose cache holds
    /// `kv_len` positions. Both must equal the values written to the
    /// [`Step`](crate::gpu::Step) for this submit (`StepParams::n_tokens`,
    /// `StepParams::kv_len`); `n_tokens` is clamped to the rows the op's
    /// buffers hold. `kv_len` only chooses how attention splits a long
    /// one-token step over several workgroups per head: any value (0 = never
    /// split) gives the same result.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32, kv_len: u32) {
        for (pipeline, bind_group, groups) in self.plan(n_tokens, kv_len) {
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, groups.2);
        }
    }

    /// The dispatches [`Op::record`] records.
    #[cfg(feature = "testing")]
    pub fn dispatch_info(&self, n_tokens: u32, kv_len: u32) -> Vec<DispatchInfo> {
        self.plan(n_tokens, kv_len)
            .into_iter()
            .map(|(_, _, groups)| DispatchInfo { groups })
            .collect()
    }

    /// Dispatches recorded per step (one per weight part for matmuls).
    #[cfg(feature = "testing")]
    pub fn n_dispatches(&self) -> usize {
        self.dispatches.len()
    }

    /// The number of key splits for a step.
    fn splits(&self, n: u32, kv_len: u32) -> u32 {
        if self.max_splits <= 1 || n != 1 {
            return 1;
        }
        (kv_len / ATTN_SPLIT_KEYS).clamp(1, self.max_splits)
    }

    #[allow(clippy::type_complexity)]
    fn plan(
        &self,
        n_tokens: u32,
        kv_len: u32,
    ) -> Vec<(&wgpu::ComputePipeline, &wgpu::BindGroup, (u32, u32, u32))> {
        let mut out = Vec::new();
        let n = n_tokens.min(self.cap);
        if n == 0 {
            return out;
        }
        let splits = self.splits(n, kv_len);
        for d in &self.dispatches {
            let Some(v) = d.variants.iter().rev().find(|v| v.min_tokens <= n) else {
                continue;
            };
            let (x, y, z) = match d.grid {
                Grid::Rows { rows, last_only } => {
                    let groups = rows.div_ceil(v.rows_per_group);
                    let (x, z) = fold(groups as u64, self.max_dim);
                    let y = if last_only {
                        1
                    } else {
                        n.div_ceil(v.tokens_per_group)
                    };
                    (x, y, z)
                }
                Grid::Linear {
                    items_per_token,
                    wg,
                } => {
                    let total = (n as u64 * items_per_token).div_ceil(wg as u64);
                    let (x, y) = fold(total, self.max_dim);
                    (x, y, 1)
                }
                #[cfg(feature = "testing")]
                Grid::PerToken { x } => (x, n, 1),
                Grid::Single => (1, 1, 1),
                Grid::TokenRows {
                    min_tokens,
                    max_tokens,
                } => {
                    if n < min_tokens || n > max_tokens {
                        continue;
                    }
                    (1, n, 1)
                }
                Grid::Attn { kv_heads, group } => {
                    (kv_heads, (n * group).div_ceil(v.rows_per_group), splits)
                }
                Grid::Combine { heads } => {
                    if splits == 1 {
                        continue;
                    }
                    (heads, n, splits)
                }
            };
            if x == 0 || y == 0 || z == 0 {
                continue;
            }
            out.push((&v.pipeline.pipeline, &d.bind_group, (x, y, z)));
        }
        out
    }
}
