//! The per-adapter choice between the f32 and the 8-bit-activation decode
//! mat-vec. No wgpu feature says whether packed integer dot products are
//! native on an adapter (lavapipe lowers them to plain integer operations),
//! so both are timed at model load, on one matrix per weight type, and the
//! faster is kept for that type. The result is cached for the process per
//! adapter and matrix shape: later loads reuse it (no timing, and the same
//! choice, so a model loaded twice computes the same logits).

use super::super::Kernels;
use super::x8::has_x8;
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
/// The most mat-vecs per timed submit.
const MAX_REPS: usize = 8;
/// Mat-vecs per submit are cut so that one submit takes about this long.
const SUBMIT_S: f64 = 0.004;

/// What [`Kernels::choose_x8`] measured: seconds per mat-vec.
#[derive(Clone, Copy, Debug)]
pub struct X8Timing {
    pub ty: GgmlType,
    pub f32_s: f64,
    pub x8_s: f64,
}

impl X8Timing {
    /// The 8-bit path was faster (and is kept).
    pub fn x8_wins(&self) -> bool {
        self.x8_s < self.f32_s
    }
}

impl Kernels {
    /// Times the one-token mat-vec of `w` with f32 and with 8-bit
    /// activations and keeps the faster for `w`'s type (see
    /// [`Kernels::uses_x8`]), or reuses what an earlier call in this
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
            .insert(w.ty, t.x8_wins());
        Ok(Some(t))
    }

    /// Times the one-token mat-vec of `w` with f32 and with 8-bit
    /// activations.
    fn time_x8(&self, w: &QMatrix) -> Result<X8Timing, GpuError> {
        let step = Step::new(&self.gpu);
        let xv: Vec<f32> = (0..w.cols)
            .map(|i| (i * 7919 % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let x = Tensor::from_slice(&self.gpu, &xv, "x8 timing x")?;
        let y = Tensor::new(&self.gpu, w.rows, "x8 timing y")?;
        let op = |x8| {
            let input = MatIn { x: &x, norm: None };
            let out = MatOut::Store {
                y: &y,
                accumulate: false,
            };
            self.matmul_path(&step, &[w], input, out, false, x8)
        };
        let ops = [op(false)?, op(true)?];
        step.write(
            &self.gpu,
            StepParams {
                n_tokens: 1,
                pos0: 0,
                kv_len: 1,
                _pad: 0,
            },
        );
        // A first run of each (pipelines warm), whose time sets the count.
        let warm = self.time_op(&ops[0], 1)?.max(self.time_op(&ops[1], 1)?);
        let reps = ((SUBMIT_S / warm.max(1e-9)) as usize).clamp(1, MAX_REPS);
        let mut best = [f64::INFINITY; 2];
        for _ in 0..ROUNDS {
            for (b, op) in best.iter_mut().zip(&ops) {
                *b = b.min(self.time_op(op, reps)? / reps as f64);
            }
        }
        Ok(X8Timing {
            ty: w.ty,
            f32_s: best[0],
            x8_s: best[1],
        })
    }

    /// Seconds for one submit of `reps` one-token runs of `op`, waited for.
    fn time_op(&self, op: &Op, reps: usize) -> Result<f64, GpuError> {
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
                op.record(&mut pass, 1, 0);
            }
        }
        self.gpu.queue.submit([enc.finish()]);
        self.gpu.wait()?;
        Ok(start.elapsed().as_secs_f64())
    }
}
