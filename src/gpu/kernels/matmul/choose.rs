//! The per-adapter choice between f32 and 8-bit activations in matmuls. No
//! wgpu feature says whether packed integer dot products are native on an
//! adapter (lavapipe lowers them to plain integer operations), so both are
//! timed at model load, on one matrix per weight type, in the decode shape
//! (one token) and the prefill shape (PREFILL_TOKENS tokens), and the faster
//! is kept for that type and shape. The result is cached for the process per
//! adapter and matrix shape: later loads reuse it (no timing, and the same
//! choice, so a model loaded twice computes the same logits).

use super::super::Kernels;
use super::x8::{X8Use, has_x8};
use super::{MatIn, MatOut};
use crate::gpu::{GpuError, Op, QMatrix, Step, StepParams, Tensor};
use crate::quant::GgmlType;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

/// Timings already measured in this process, by adapter, type and shape.
static MEASURED: LazyLock<Mutex<HashMap<String, X8Timing>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Timed submits per path, alternating between the two.
const ROUNDS: usize = 3;
/// The most matmuls per timed submit.
const MAX_REPS: usize = 8;
/// Matmuls per submit are cut so that one submit takes about this long.
const SUBMIT_S: f64 = 0.004;
/// Tokens of the timed prefill step.
const PREFILL_TOKENS: usize = 32;

/// What [`Kernels::choose_x8`] measured for one shape: seconds per matmul.
#[derive(Clone, Copy, Debug)]
pub struct X8Times {
    pub f32_s: f64,
    pub x8_s: f64,
}

impl X8Times {
    /// The 8-bit path was faster (and is kept).
    pub fn x8_wins(&self) -> bool {
        self.x8_s < self.f32_s
    }
}

/// What [`Kernels::choose_x8`] measured for a weight type.
#[derive(Clone, Copy, Debug)]
pub struct X8Timing {
    pub ty: GgmlType,
    /// One token (the decode mat-vec).
    pub decode: X8Times,
    /// PREFILL_TOKENS tokens (the prefill tiles).
    pub prefill: X8Times,
}

impl X8Timing {
    /// Where 8-bit activations won (and are used).
    pub fn choice(&self) -> X8Use {
        X8Use {
            decode: self.decode.x8_wins(),
            prefill: self.prefill.x8_wins(),
        }
    }
}

impl Kernels {
    /// Times the matmul of `w` with f32 and with 8-bit activations, in one-
    /// and PREFILL_TOKENS-token steps, and keeps the faster of each for
    /// `w`'s type (see [`Kernels::x8_use`]), or reuses what an earlier call in this
    /// process measured for the same adapter, type and shape. Nothing is
    /// timed (`None`) for a type without the 8-bit path or when the tuning
    /// forces the choice.
    pub fn choose_x8(&self, w: &QMatrix) -> Result<Option<X8Timing>, GpuError> {
        if !has_x8(w.ty) || self.gpu.int8_matvec.is_some() {
            return Ok(None);
        }
        let key = format!("{}/{}/{}x{}", self.gpu.kernel_key(), w.ty, w.rows, w.cols);
        // Held while timing: concurrent loads wait for the first one's
        // result (and don't disturb its timing).
        let mut measured = MEASURED.lock().unwrap_or_else(|e| e.into_inner());
        let t = match measured.get(&key) {
            Some(t) => *t,
            None => {
                let t = self.time_x8(w)?;
                measured.insert(key, t);
                t
            }
        };
        drop(measured);
        self.x8_choice
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(w.ty, t.choice());
        Ok(Some(t))
    }

    /// Times the matmul of `w` with f32 and with 8-bit activations in one-
    /// and PREFILL_TOKENS-token steps.
    fn time_x8(&self, w: &QMatrix) -> Result<X8Timing, GpuError> {
        let step = Step::new(&self.gpu);
        let xv: Vec<f32> = (0..w.cols * PREFILL_TOKENS)
            .map(|i| (i * 7919 % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let x = Tensor::from_slice(&self.gpu, &xv, "x8 timing x")?;
        let y = Tensor::new(&self.gpu, w.rows * PREFILL_TOKENS, "x8 timing y")?;
        let op = |x8: bool| {
            let input = MatIn { x: &x, norm: None };
            let out = MatOut::Store {
                y: &y,
                accumulate: false,
            };
            let x8 = X8Use::both(x8);
            self.matmul_path(&step, &[w], input, out, false, x8)
        };
        let ops = [op(false)?, op(true)?];
        let mut times = [X8Times {
            f32_s: 0.0,
            x8_s: 0.0,
        }; 2];
        for (t, n) in times.iter_mut().zip([1, PREFILL_TOKENS as u32]) {
            step.write(
                &self.gpu,
                StepParams {
                    n_tokens: n,
                    pos0: 0,
                    kv_len: n,
                    _pad: 0,
                },
            );
            // A first run of each (pipelines warm), whose time sets the count.
            let warm = self
                .time_op(&ops[0], n, 1)?
                .max(self.time_op(&ops[1], n, 1)?);
            let reps = ((SUBMIT_S / warm.max(1e-9)) as usize).clamp(1, MAX_REPS);
            let mut best = [f64::INFINITY; 2];
            for _ in 0..ROUNDS {
                for (b, op) in best.iter_mut().zip(&ops) {
                    *b = b.min(self.time_op(op, n, reps)? / reps as f64);
                }
            }
            *t = X8Times {
                f32_s: best[0],
                x8_s: best[1],
            };
        }
        Ok(X8Timing {
            ty: w.ty,
            decode: times[0],
            prefill: times[1],
        })
    }

    /// Seconds for one submit of `reps` runs of `op` over `n` tokens, waited
    /// for.
    fn time_op(&self, op: &Op, n: u32, reps: usize) -> Result<f64, GpuError> {
        let start = Instant::now();
        let mut enc = self
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("x8 timing"),
            });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("x8 timing"),
                timestamp_writes: None,
            });
            for _ in 0..reps {
                op.record(&mut pass, n, n);
            }
        }
        self.gpu.queue.submit([enc.finish()]);
        self.gpu.wait()?;
        Ok(start.elapsed().as_secs_f64())
    }
}
