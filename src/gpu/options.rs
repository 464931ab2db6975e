//! How to choose and configure the device: [`GpuOptions`], and the tuning
//! knobs of tests and benchmarks ([`GpuTuning`]).

/// How to choose and configure the device. `Default` picks the best adapter.
#[derive(Clone, Debug)]
pub struct GpuOptions {
    /// Backends to consider; `None` = all primary ones (Vulkan, Metal, DX12)
    /// plus GL.
    pub backends: Option<wgpu::Backends>,
    /// Only adapters whose name contains this (case-insensitive).
    pub adapter: Option<String>,
    /// `HighPerformance` (the default) prefers a discrete GPU, `LowPower` an
    /// integrated one (`None` counts as `HighPerformance`).
    pub power_preference: wgpu::PowerPreference,
    /// KV cache element type: `Some(true)` = f16 (half the memory and
    /// bandwidth; keys and values rounded to f16), `Some(false)` = f32
    /// (exact); `None` = f16 where the adapter has `SHADER_F16` (the f16
    /// cache itself only needs WGSL's pack/unpack builtins, so it works on
    /// any adapter when asked for).
    pub kv_f16: Option<bool>,
    /// 8-bit KV cache (llama.cpp's `-ctk q8_0 -ctv q8_0`): blocks of 32
    /// values as int8 with one f32 scale, 1.125 bytes a value, 56% of the
    /// f16 cache. Takes precedence over `kv_f16`. Needs a KV width that is
    /// a multiple of 32 (every Llama's is). See [`KvType::Q8_0`](super::KvType);
    /// the native CPU path has the same option (`CpuOptions::kv_q8`).
    pub kv_q8: bool,
    /// Allow matmuls with 8-bit activations and packed integer dot
    /// products (weights in Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q2_K..Q6_K),
    /// used for each weight type and shape (the one-token decode mat-vec,
    /// the prefill tiles) where the model load measures them faster on this
    /// adapter. Their rounding moves SmolLM2 Q4_1's logits from the exact
    /// f32 forward by up to 1.47 in decode (mean over steps 0.62), less than
    /// the native CPU path's 8-bit activations do (1.78, 0.79). Off by
    /// default until measured on real GPUs, where they are meant to win: the
    /// only adapter they have been timed on is lavapipe, where
    /// `Device::Auto` takes the native CPU path.
    pub int8_matmul: bool,
    /// Knobs for tests and benchmarks.
    #[cfg(feature = "testing")]
    pub tuning: GpuTuning,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            backends: None,
            adapter: None,
            power_preference: wgpu::PowerPreference::HighPerformance,
            kv_f16: None,
            kv_q8: false,
            int8_matmul: false,
            #[cfg(feature = "testing")]
            tuning: GpuTuning::default(),
        }
    }
}

impl GpuOptions {
    /// The tuning knobs: the defaults unless built for tests.
    pub(super) fn tuning(&self) -> GpuTuning {
        #[cfg(feature = "testing")]
        return self.tuning.clone();
        #[cfg(not(feature = "testing"))]
        GpuTuning::default()
    }
}

/// Device tuning for tests and benchmarks (settable through
/// `GpuOptions::tuning` with the `testing` feature); the defaults are what
/// ships.
#[derive(Clone, Debug, Default)]
pub struct GpuTuning {
    /// Lower the storage-binding size limit to this many bytes (tests of
    /// weight splitting).
    pub max_binding_size: Option<u64>,
    /// Don't enable `SHADER_F16` even if the adapter has it.
    pub disable_f16: bool,
    /// Don't enable `SUBGROUP` even if the adapter has it.
    pub disable_subgroups: bool,
    /// Matrix-vector kernel shape: `Some(true)` = one thread per row (best on
    /// CPU adapters such as lavapipe), `Some(false)` = a group of threads
    /// per row with coalesced loads (GPUs); `None` = by adapter type.
    pub thread_per_row: Option<bool>,
    /// Matmuls with 8-bit activations and packed integer dot products (for
    /// the weight types that have them), decode and prefill: `Some(true)` =
    /// always, `Some(false)` = never (f32 activations); `None` = as
    /// [`GpuOptions::int8_matmul`] says (when allowed, whichever of the two
    /// the model load measured faster on this adapter, per shape).
    pub int8_matvec: Option<bool>,
}

/// Adapter ranking (higher wins): a primary backend before GL.
pub(super) fn backend_rank(b: wgpu::Backend) -> u32 {
    match b {
        wgpu::Backend::Gl => 0,
        _ => 1,
    }
}

/// Adapter ranking (higher wins) by device type, discrete or integrated
/// first by `power`.
pub(super) fn type_rank(t: wgpu::DeviceType, power: wgpu::PowerPreference) -> u32 {
    let low_power = power == wgpu::PowerPreference::LowPower;
    match t {
        wgpu::DeviceType::DiscreteGpu if low_power => 3,
        wgpu::DeviceType::IntegratedGpu if low_power => 4,
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 1,
        wgpu::DeviceType::Other => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wgpu::{DeviceType as T, PowerPreference as P};

    #[test]
    fn power_preference_orders_discrete_and_integrated() {
        for p in [P::HighPerformance, P::None] {
            assert!(type_rank(T::DiscreteGpu, p) > type_rank(T::IntegratedGpu, p));
        }
        assert!(type_rank(T::IntegratedGpu, P::LowPower) > type_rank(T::DiscreteGpu, P::LowPower));
        // Either GPU before a software adapter.
        assert!(type_rank(T::DiscreteGpu, P::LowPower) > type_rank(T::Cpu, P::LowPower));
        assert_eq!(GpuOptions::default().power_preference, P::HighPerformance);
    }
}
