//! The native CPU path, for machines whose only wgpu adapter is a CPU
//! (lavapipe, llvmpipe, WARP, SwiftShader) or that have none: the same
//! forward step as the GPU graph, with 8-bit activations and integer dot
//! products through `std::arch` (AVX-512 VNNI, AVX2, NEON dot product,
//! detected at run time; portable Rust elsewhere), on a thread pool.
//!
//! | file | what |
//! |---|---|
//! | `isa.rs` | instruction-set detection |
//! | `simd/` | the vector operations of each backend |
//! | `kernels/` | mat-muls and attention, written once over `simd` |
//! | `pack.rs`, `matrix.rs` | the repacked weight layout; a matrix |
//! | `acts.rs` | 8-bit activations |
//! | `pool.rs` | the threads |
//! | `select.rs` | when `Device::Auto` takes this path |
//! | `weights.rs`, `forward.rs`, `kv.rs`, `ops.rs`, `matmul.rs` | the model and one session's step |

mod acts;
mod forward;
mod isa;
mod kernels;
mod kv;
mod matmul;
mod matrix;
mod ops;
mod pack;
mod pool;
mod profile;
mod select;
mod simd;
mod weights;

use std::sync::Arc;

pub(crate) use forward::CpuForward;
pub use isa::Isa;
pub use pool::CpuError;
pub(crate) use pool::cpu_name;
pub(crate) use select::resolve_device;

use crate::error::Error;
use crate::gguf::GgufFile;
use crate::gpu::KvType;
use crate::model::{LlamaConfig, LoadProgress};
use pool::Pool;
use weights::CpuWeights;

/// How the CPU path runs (see [`LoadOptions`](crate::LoadOptions)).
#[derive(Clone, Debug, Default)]
pub struct CpuOptions {
    /// The kernels' instruction set; `None` = the best this CPU has.
    pub isa: Option<Isa>,
    /// KV cache element type: `Some(true)` = f16 (the default, like
    /// llama.cpp's; half the memory), `Some(false)` = f32 (exact).
    pub kv_f16: Option<bool>,
    /// 8-bit KV cache (blocks of 32 int8 with an f32 scale, as the GPU's
    /// [`KvType::Q8_0`]); takes precedence over
    /// `kv_f16`. Needs a head size that is a multiple of 32.
    pub kv_q8: bool,
}

impl CpuOptions {
    /// The KV cache type these options ask for.
    pub(crate) fn kv_type(&self) -> KvType {
        match (self.kv_q8, self.kv_f16.unwrap_or(true)) {
            (true, _) => KvType::Q8_0,
            (false, true) => KvType::F16,
            (false, false) => KvType::F32,
        }
    }
}

/// Bytes the CPU path allocates for the weights of `config` in `file`: its
/// quantized matrices as repacked (float matrices, norms aside, are read in
/// place), from the tensor table alone.
pub(crate) fn packed_bytes(file: &GgufFile, config: &LlamaConfig) -> u64 {
    let matrices = config
        .expected_tensors()
        .into_iter()
        .filter(|(name, dims)| {
            dims.len() == 2 && (name != "token_embd.weight" || config.tied_embeddings)
        });
    matrices
        .filter_map(|(name, dims)| {
            let t = file.tensor(&name)?;
            let f = pack::Fmt::of(t.ty)?;
            let groups = (dims[1] as usize).div_ceil(pack::ROWS);
            Some((groups * f.group_bytes(dims[0] as usize)) as u64)
        })
        .sum()
}

/// A model on the CPU path: its weights and threads, shared by its sessions.
pub(crate) struct CpuBackend {
    weights: CpuWeights,
    pool: Pool,
    isa: Isa,
    kv: KvType,
}

impl CpuBackend {
    /// Loads the weights of `config` from `file` on `n_threads` threads (0 =
    /// the physical cores).
    pub(crate) fn load(
        file: Arc<GgufFile>,
        config: &LlamaConfig,
        opts: &CpuOptions,
        n_threads: usize,
        progress: impl FnMut(LoadProgress),
    ) -> Result<Arc<CpuBackend>, Error> {
        let pool = Pool::new(n_threads)?;
        let weights = CpuWeights::load(file, config, &pool, progress)?;
        Ok(Arc::new(CpuBackend {
            weights,
            pool,
            isa: opts.isa.unwrap_or_else(Isa::best),
            kv: opts.kv_type(),
        }))
    }

    pub(crate) fn isa(&self) -> Isa {
        self.isa
    }

    pub(crate) fn threads(&self) -> usize {
        self.pool.threads()
    }

    pub(crate) fn kv_type(&self) -> KvType {
        self.kv
    }

    /// Bytes of the repacked weights (float weights are read in place from
    /// the file).
    pub(crate) fn weight_bytes(&self) -> u64 {
        self.weights.owned_bytes()
    }
}
