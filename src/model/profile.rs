//! Timing every op of a step (the bench's `--profile`).

use super::context::{Context, Forward, Readback, StepOutput};
use super::gpu_forward::{GpuForward, NamedOp};
use crate::error::Error;

/// The time one kind of op took in a profiled step (see
/// [`Context::profile_feed`]).
#[derive(Clone, Debug)]
pub struct OpTime {
    /// What the ops compute ("qkv+rope+kv", "attention", ...).
    pub name: &'static str,
    /// Ops of this kind in the step (one per layer, typically).
    pub ops: usize,
    /// Dispatches they recorded.
    pub dispatches: usize,
    /// Seconds, all ops of the kind together.
    pub seconds: f64,
}

impl Context {
    /// Like [`Context::feed`], timing every op: with GPU timestamps where
    /// the adapter has them (one compute pass per op, one submit per step),
    /// else by submitting and waiting for each op on its own (which adds the
    /// submit latency to every op); on the CPU path, by the wall clock
    /// between the ops of the step. Returns the output and the time per kind
    /// of op over all steps, in graph order.
    pub fn profile_feed(
        &mut self,
        tokens: &[u32],
        readback: Readback,
    ) -> Result<(StepOutput, Vec<OpTime>), Error> {
        self.check_feed(tokens, readback)?;
        let n_steps = tokens.len().div_ceil(self.n_batch());
        let mut out = StepOutput::None;
        let mut kinds: Vec<OpTime> = Vec::new();
        for (i, chunk) in tokens.chunks(self.n_batch()).enumerate() {
            let rb = if i + 1 == n_steps {
                readback
            } else {
                Readback::None
            };
            let pos0 = self.history.len();
            let (o, step_kinds) = match &mut self.forward {
                Forward::Gpu(f) => f.profile_step(chunk, pos0, rb)?,
                Forward::Cpu(f) => {
                    let (o, laps) = f.profile_step(chunk, pos0, rb)?;
                    let kinds = laps
                        .into_iter()
                        .map(|l| OpTime {
                            name: l.name,
                            ops: l.ops,
                            dispatches: l.ops,
                            seconds: l.seconds,
                        })
                        .collect();
                    (o, kinds)
                }
            };
            self.history.extend_from_slice(chunk);
            out = o;
            for k in step_kinds {
                match kinds.iter_mut().find(|s| s.name == k.name) {
                    Some(s) => {
                        s.ops += k.ops;
                        s.dispatches += k.dispatches;
                        s.seconds += k.seconds;
                    }
                    None => kinds.push(k),
                }
            }
        }
        Ok((out, kinds))
    }
}

impl GpuForward {
    /// One profiled step of at most `n_batch` checked tokens at `pos0..`.
    fn profile_step(
        &mut self,
        tokens: &[u32],
        pos0: usize,
        readback: Readback,
    ) -> Result<(StepOutput, Vec<OpTime>), Error> {
        let (n, kv_len) = self.begin_step(tokens, pos0);
        let gpu = self.gpu.clone();
        let ops: Vec<&NamedOp> = self.step_ops(readback).collect();
        let mut times = vec![0.0f64; ops.len()];
        let mut enc = self.encoder("profile");
        if gpu.timestamps {
            let count = (2 * ops.len()) as u32;
            let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profile"),
                ty: wgpu::QueryType::Timestamp,
                count,
            });
            let buffer = |label, usage| {
                gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: count as u64 * 8,
                    usage,
                    mapped_at_creation: false,
                })
            };
            use wgpu::BufferUsages as U;
            let resolve = buffer("profile resolve", U::QUERY_RESOLVE | U::COPY_SRC);
            let read = buffer("profile read", U::MAP_READ | U::COPY_DST);
            for (i, (_, op)) in ops.iter().enumerate() {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("profile op"),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: &set,
                        beginning_of_pass_write_index: Some(2 * i as u32),
                        end_of_pass_write_index: Some(2 * i as u32 + 1),
                    }),
                });
                op.record(&mut pass, n, kv_len);
            }
            enc.resolve_query_set(&set, 0..count, &resolve, 0);
            enc.copy_buffer_to_buffer(&resolve, 0, &read, 0, count as u64 * 8);
            let read_bytes = self.copy_readback(&mut enc, readback, tokens.len());
            gpu.queue.submit([enc.finish()]);
            let stamps: Vec<u64> =
                bytemuck::pod_collect_to_vec(&gpu.read_mapped(&read, count as u64 * 8)?);
            let period = gpu.queue.get_timestamp_period() as f64 * 1e-9;
            for (i, t) in times.iter_mut().enumerate() {
                *t = stamps[2 * i + 1].saturating_sub(stamps[2 * i]) as f64 * period;
            }
            let kinds = by_kind(&ops, &times, n, kv_len);
            return Ok((self.finish_step(readback, read_bytes)?, kinds));
        }
        gpu.wait()?;
        for (i, (_, op)) in ops.iter().enumerate() {
            let t = std::time::Instant::now();
            let mut op_enc = self.encoder("profile op");
            {
                let mut pass = op_enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("profile op"),
                    timestamp_writes: None,
                });
                op.record(&mut pass, n, kv_len);
            }
            gpu.queue.submit([op_enc.finish()]);
            gpu.wait()?;
            times[i] = t.elapsed().as_secs_f64();
        }
        let read_bytes = self.copy_readback(&mut enc, readback, tokens.len());
        gpu.queue.submit([enc.finish()]);
        let kinds = by_kind(&ops, &times, n, kv_len);
        Ok((self.finish_step(readback, read_bytes)?, kinds))
    }
}

/// Sums the ops' times by kind, in graph order.
fn by_kind(ops: &[&NamedOp], times: &[f64], n: u32, kv_len: u32) -> Vec<OpTime> {
    let mut kinds: Vec<OpTime> = Vec::new();
    for ((name, op), t) in ops.iter().map(|o| (&o.0, &o.1)).zip(times) {
        let d = op.dispatch_info(n, kv_len).len();
        match kinds.iter_mut().find(|k| k.name == *name) {
            Some(k) => {
                k.ops += 1;
                k.dispatches += d;
                k.seconds += t;
            }
            None => kinds.push(OpTime {
                name,
                ops: 1,
                dispatches: d,
                seconds: *t,
            }),
        }
    }
    kinds
}
