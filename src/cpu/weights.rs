//! A model's weights on the CPU path, shared by its sessions: the quantized
//! matrices repacked once (`matrix.rs`), float matrices and the token
//! embedding read in place from the memory map.

use std::sync::Arc;

use super::matrix::Matrix;
use super::pool::Pool;
use crate::error::Error;
use crate::gguf::{GgufFile, TensorInfo};
use crate::model::{LlamaConfig, LoadProgress};
use crate::quant;

pub(crate) struct CpuLayer {
    pub attn_norm: Vec<f32>,
    /// Q, K and V: their rows stacked in the output.
    pub qkv: Vec<Matrix>,
    pub wo: Vec<Matrix>,
    pub ffn_norm: Vec<f32>,
    /// Gate and up.
    pub gate_up: Vec<Matrix>,
    pub down: Vec<Matrix>,
}

pub(crate) struct CpuWeights {
    file: Arc<GgufFile>,
    embd: TensorInfo,
    /// `output.weight`, or the token embedding when tied.
    pub output: Vec<Matrix>,
    pub output_norm: Vec<f32>,
    pub layers: Vec<CpuLayer>,
}

fn vector(file: &GgufFile, name: &str) -> Result<Vec<f32>, Error> {
    let t = file.require_tensor(name)?;
    quant::dequantize_to_vec(t.ty, file.tensor_data(t), t.n_elements as usize).map_err(|source| {
        Error::Tensor {
            name: name.to_string(),
            source,
        }
    })
}

impl CpuWeights {
    /// Reads (and repacks, in parallel on `pool`) every weight of `config`
    /// from `file`; `progress` counts the file's tensor bytes.
    pub(crate) fn load(
        file: Arc<GgufFile>,
        config: &LlamaConfig,
        pool: &Pool,
        mut progress: impl FnMut(LoadProgress),
    ) -> Result<CpuWeights, Error> {
        let total = config.weight_bytes(&file);
        let mut done = 0;
        let mut matrix = |name: &str| -> Result<Vec<Matrix>, Error> {
            let t = file.require_tensor(name)?;
            let m = pool.install(|| Matrix::new(&file, t))?;
            if m.owned_bytes() > 0 {
                // A repacked copy now: the file's pages needn't stay
                // resident beside it.
                file.release_tensor_pages(t);
            }
            done += t.n_bytes;
            progress(LoadProgress { done, total });
            Ok(vec![m])
        };
        let output = match config.tied_embeddings {
            true => matrix("token_embd.weight")?,
            false => matrix("output.weight")?,
        };
        let mut layers = Vec::with_capacity(config.n_layer);
        for l in 0..config.n_layer {
            let n = |what: &str| format!("blk.{l}.{what}.weight");
            let stack = |a: Vec<Matrix>, b: Vec<Matrix>| a.into_iter().chain(b).collect::<Vec<_>>();
            let qkv = stack(
                stack(matrix(&n("attn_q"))?, matrix(&n("attn_k"))?),
                matrix(&n("attn_v"))?,
            );
            let wo = matrix(&n("attn_output"))?;
            let gate_up = stack(matrix(&n("ffn_gate"))?, matrix(&n("ffn_up"))?);
            let down = matrix(&n("ffn_down"))?;
            layers.push(CpuLayer {
                attn_norm: vector(&file, &n("attn_norm"))?,
                qkv,
                wo,
                ffn_norm: vector(&file, &n("ffn_norm"))?,
                gate_up,
                down,
            });
        }
        Ok(CpuWeights {
            embd: file.require_tensor("token_embd.weight")?.clone(),
            output_norm: vector(&file, "output_norm.weight")?,
            output,
            layers,
            file,
        })
    }

    /// Row `token` of the token embedding, dequantized into `out`.
    pub(crate) fn embed(&self, token: u32, out: &mut [f32]) -> Result<(), Error> {
        let e = &self.embd;
        let cols = e.dims[0] as usize;
        let row_bytes = cols / e.ty.block_size() * e.ty.type_size();
        let data = self.file.tensor_data(e);
        let row = &data[token as usize * row_bytes..(token as usize + 1) * row_bytes];
        quant::dequantize(e.ty, row, &mut out[..cols]).map_err(|source| Error::Tensor {
            name: e.name.clone(),
            source,
        })
    }

    fn matrices(&self) -> impl Iterator<Item = &Matrix> {
        let layers = self
            .layers
            .iter()
            .flat_map(|l| l.qkv.iter().chain(&l.wo).chain(&l.gate_up).chain(&l.down));
        self.output.iter().chain(layers)
    }

    /// Bytes of the repacked matrices (float matrices are read in place).
    pub(crate) fn owned_bytes(&self) -> u64 {
        self.matrices().map(|m| m.owned_bytes()).sum()
    }

    /// Which of the forward's inputs are read by a quantized matrix: the
    /// model width (Q/K/V, gate/up, output), the attention output, the FFN
    /// hidden state.
    pub(crate) fn quantized_inputs(&self) -> [bool; 3] {
        let ls = &self.layers;
        let q = |m: &Matrix| m.is_quantized();
        [
            self.output.iter().any(q) || ls.iter().any(|l| l.qkv.iter().chain(&l.gate_up).any(q)),
            ls.iter().any(|l| l.wo.iter().any(q)),
            ls.iter().any(|l| l.down.iter().any(q)),
        ]
    }
}
