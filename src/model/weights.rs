//! A model's weights on the GPU, shared by all its sessions, and what they
//! will take before they are uploaded.
//!
//! Two fusions decide the layout, and [`LayerFusion`] decides them once for
//! both the upload and the estimate: Q, K and V are one matrix with their
//! rows stacked when they share a type and width (one dispatch whose
//! epilogue applies RoPE and stores K and V), and gate and up are one matrix
//! with their rows interleaved when they share a type and shape (one
//! dispatch whose epilogue is SwiGLU).

use crate::error::Error;
use crate::gguf::{GgufFile, TensorInfo};
use crate::gpu::{Gpu, QMatrix, Tensor};
use crate::quant::{self, GgmlType};

use super::{LlamaConfig, LoadProgress};

/// The Q, K and V projections: stacked (one dispatch) or three matrices.
pub(crate) enum Qkv {
    Stacked(QMatrix),
    Separate([QMatrix; 3]),
}

impl Qkv {
    pub(crate) fn matrices(&self) -> Vec<&QMatrix> {
        match self {
            Qkv::Stacked(m) => vec![m],
            Qkv::Separate(ms) => ms.iter().collect(),
        }
    }
}

/// The gate and up projections: interleaved (one dispatch computes the
/// SwiGLU) or two matrices.
pub(crate) enum GateUp {
    Interleaved(QMatrix),
    Separate { gate: QMatrix, up: QMatrix },
}

impl GateUp {
    fn matrices(&self) -> Vec<&QMatrix> {
        match self {
            GateUp::Interleaved(m) => vec![m],
            GateUp::Separate { gate, up } => vec![gate, up],
        }
    }
}

pub(crate) struct LayerWeights {
    pub attn_norm: Tensor,
    pub qkv: Qkv,
    pub wo: QMatrix,
    pub ffn_norm: Tensor,
    pub gate_up: GateUp,
    pub w_down: QMatrix,
}

pub(crate) struct GpuWeights {
    pub embd: QMatrix,
    pub output_norm: Tensor,
    /// `None` when the output projection is tied to the embedding.
    pub output: Option<QMatrix>,
    pub layers: Vec<LayerWeights>,
}

impl GpuWeights {
    /// The largest matrix of each weight type among the first layer's and
    /// the output projection (the ones the load-time kernel choices time).
    pub(crate) fn largest_per_type(&self) -> Vec<&QMatrix> {
        let mut ms: Vec<&QMatrix> = Vec::new();
        if let Some(l) = self.layers.first() {
            ms.extend(l.qkv.matrices());
            ms.push(&l.wo);
            ms.extend(l.gate_up.matrices());
            ms.push(&l.w_down);
        }
        ms.push(self.output.as_ref().unwrap_or(&self.embd));
        let mut best: Vec<&QMatrix> = Vec::new();
        for m in ms {
            match best.iter_mut().find(|b| b.ty == m.ty) {
                Some(b) if b.rows * b.cols < m.rows * m.cols => *b = m,
                Some(_) => {}
                None => best.push(m),
            }
        }
        best
    }
}

/// The tensor name of layer `l`'s `what` ("attn_q" → "blk.3.attn_q.weight").
fn layer_tensor(l: usize, what: &str) -> String {
    format!("blk.{l}.{what}.weight")
}

/// Which of a layer's matrices are fused on the GPU (see the module doc).
struct LayerFusion {
    stack_qkv: bool,
    interleave_gate_up: bool,
}

impl LayerFusion {
    fn of(file: &GgufFile, l: usize) -> Result<LayerFusion, Error> {
        let t = |what: &str| file.require_tensor(&layer_tensor(l, what));
        let (q, k, v) = (t("attn_q")?, t("attn_k")?, t("attn_v")?);
        let (g, u) = (t("ffn_gate")?, t("ffn_up")?);
        let same_type_and_width =
            |a: &TensorInfo, b: &TensorInfo| a.ty == b.ty && a.dims.first() == b.dims.first();
        Ok(LayerFusion {
            stack_qkv: same_type_and_width(q, k) && same_type_and_width(q, v),
            interleave_gate_up: g.ty == u.ty && g.dims == u.dims,
        })
    }
}

/// A matrix tensor's type, rows and columns.
fn matrix_shape(t: &TensorInfo) -> (GgmlType, usize, usize) {
    (
        t.ty,
        t.dims.get(1).map_or(1, |&r| r as usize),
        t.dims[0] as usize,
    )
}

impl GpuWeights {
    /// Uploads every tensor straight from the memory map, repacked and
    /// written piece by piece (see [`QMatrix::upload_rows`]): the host memory
    /// a load takes besides the map is a few MiB, whatever the model size.
    pub(crate) fn upload(
        gpu: &Gpu,
        file: &GgufFile,
        config: &LlamaConfig,
        mut progress: impl FnMut(LoadProgress),
    ) -> Result<Self, Error> {
        let total = config.weight_bytes(file);
        let mut done = 0u64;
        // Counts a tensor's file bytes as uploaded; they are on the GPU now,
        // so the file's pages needn't stay resident until the load ends.
        let mut uploaded = |names: &[&str]| {
            for t in names.iter().filter_map(|n| file.tensor(n)) {
                done += t.n_bytes;
                file.release_tensor_pages(t);
            }
            progress(LoadProgress { done, total });
        };
        let matrix = |name: &str| -> Result<QMatrix, Error> {
            let t = file.require_tensor(name)?;
            let (ty, rows, cols) = matrix_shape(t);
            Ok(QMatrix::upload(
                gpu,
                ty,
                rows,
                cols,
                file.tensor_data(t),
                name,
            )?)
        };
        let embd = matrix("token_embd.weight")?;
        let output = match config.tied_embeddings {
            true => None,
            false => Some(matrix("output.weight")?),
        };
        uploaded(&["token_embd.weight", "output.weight"]);
        let mut layers = Vec::with_capacity(config.n_layer);
        for l in 0..config.n_layer {
            let n = |what: &str| layer_tensor(l, what);
            let data = |what: &str| -> Result<&[u8], Error> {
                Ok(file.tensor_data(file.require_tensor(&n(what))?))
            };
            let fusion = LayerFusion::of(file, l)?;
            let qkv = if fusion.stack_qkv {
                let (ty, _, cols) = matrix_shape(file.require_tensor(&n("attn_q"))?);
                let parts = [data("attn_q")?, data("attn_k")?, data("attn_v")?];
                Qkv::Stacked(QMatrix::upload_concat(
                    gpu,
                    ty,
                    cols,
                    &parts,
                    &n("attn_qkv"),
                )?)
            } else {
                Qkv::Separate([
                    matrix(&n("attn_q"))?,
                    matrix(&n("attn_k"))?,
                    matrix(&n("attn_v"))?,
                ])
            };
            let gate_up = if fusion.interleave_gate_up {
                let (ty, _, cols) = matrix_shape(file.require_tensor(&n("ffn_gate"))?);
                GateUp::Interleaved(QMatrix::upload_interleaved(
                    gpu,
                    ty,
                    cols,
                    data("ffn_gate")?,
                    data("ffn_up")?,
                    &n("ffn_gate_up"),
                )?)
            } else {
                GateUp::Separate {
                    gate: matrix(&n("ffn_gate"))?,
                    up: matrix(&n("ffn_up"))?,
                }
            };
            layers.push(LayerWeights {
                attn_norm: vector(gpu, file, &n("attn_norm"))?,
                qkv,
                wo: matrix(&n("attn_output"))?,
                ffn_norm: vector(gpu, file, &n("ffn_norm"))?,
                gate_up,
                w_down: matrix(&n("ffn_down"))?,
            });
            let names = [
                "attn_norm",
                "attn_q",
                "attn_k",
                "attn_v",
                "attn_output",
                "ffn_norm",
                "ffn_gate",
                "ffn_up",
                "ffn_down",
            ]
            .map(n);
            uploaded(&names.each_ref().map(|s| s.as_str()));
        }
        let output_norm = vector(gpu, file, "output_norm.weight")?;
        uploaded(&["output_norm.weight"]);
        Ok(GpuWeights {
            embd,
            output_norm,
            output,
            layers,
        })
    }

    /// Bytes the uploaded weights hold on the GPU.
    pub(crate) fn gpu_bytes(&self) -> u64 {
        let matrices = |ms: Vec<&QMatrix>| ms.iter().map(|m| m.gpu_bytes()).sum::<u64>();
        let layers: u64 = self
            .layers
            .iter()
            .map(|l| {
                l.attn_norm.buffer.size()
                    + matrices(l.qkv.matrices())
                    + l.wo.gpu_bytes()
                    + l.ffn_norm.buffer.size()
                    + matrices(l.gate_up.matrices())
                    + l.w_down.gpu_bytes()
            })
            .sum();
        self.embd.gpu_bytes()
            + self.output_norm.buffer.size()
            + self.output.as_ref().map_or(0, |m| m.gpu_bytes())
            + layers
    }

    /// Whether some layer's gate and up projections can't be interleaved
    /// (the forward then needs two more activation buffers).
    pub(crate) fn separate_ffn(&self) -> bool {
        self.layers
            .iter()
            .any(|l| matches!(l.gate_up, GateUp::Separate { .. }))
    }

    /// The bytes [`GpuWeights::upload`] will allocate for `file` on `gpu`,
    /// computed from the tensor table alone (the same fusions, the same
    /// split into parts as [`QMatrix::upload_rows`]), and whether the FFN
    /// runs gate and up separately. Errors like the upload when a row can't
    /// be bound.
    pub(crate) fn estimate_bytes(
        gpu: &Gpu,
        file: &GgufFile,
        config: &LlamaConfig,
    ) -> Result<(u64, bool), Error> {
        let limit = gpu.max_binding;
        let shape = |name: &str| -> Result<(GgmlType, usize, usize), Error> {
            Ok(matrix_shape(file.require_tensor(name)?))
        };
        let matrix = |name: &str| -> Result<u64, Error> {
            let (ty, rows, cols) = shape(name)?;
            Ok(QMatrix::gpu_bytes_for(ty, rows, cols, limit, name)?)
        };
        // `names` stacked into one matrix of their rows together.
        let stacked = |names: &[String], label: &str| -> Result<u64, Error> {
            let (ty, _, cols) = shape(&names[0])?;
            let mut rows = 0;
            for n in names {
                rows += shape(n)?.1;
            }
            Ok(QMatrix::gpu_bytes_for(ty, rows, cols, limit, label)?)
        };
        let vector = |name: &str| -> Result<u64, Error> {
            let bytes = file.require_tensor(name)?.n_elements.saturating_mul(4);
            gpu.check_binding(name, bytes)?;
            Ok(bytes)
        };
        let mut total = matrix("token_embd.weight")? + vector("output_norm.weight")?;
        if !config.tied_embeddings {
            total += matrix("output.weight")?;
        }
        let mut separate_ffn = false;
        for l in 0..config.n_layer {
            let n = |what: &str| layer_tensor(l, what);
            let fusion = LayerFusion::of(file, l)?;
            let qkv = [n("attn_q"), n("attn_k"), n("attn_v")];
            total += if fusion.stack_qkv {
                stacked(&qkv, &n("attn_qkv"))?
            } else {
                matrix(&qkv[0])? + matrix(&qkv[1])? + matrix(&qkv[2])?
            };
            let gate_up = [n("ffn_gate"), n("ffn_up")];
            total += if fusion.interleave_gate_up {
                stacked(&gate_up, &n("ffn_gate_up"))?
            } else {
                separate_ffn = true;
                matrix(&gate_up[0])? + matrix(&gate_up[1])?
            };
            total += vector(&n("attn_norm"))?
                + matrix(&n("attn_output"))?
                + vector(&n("ffn_norm"))?
                + matrix(&n("ffn_down"))?;
        }
        Ok((total, separate_ffn))
    }
}

/// A 1-D weight (a norm) as an f32 tensor.
fn vector(gpu: &Gpu, file: &GgufFile, name: &str) -> Result<Tensor, Error> {
    let t = file.require_tensor(name)?;
    let v = quant::dequantize_to_vec(t.ty, file.tensor_data(t), t.n_elements as usize).map_err(
        |source| Error::Tensor {
            name: name.to_string(),
            source,
        },
    )?;
    Ok(Tensor::from_slice(gpu, &v, name)?)
}
