//! Helpers shared by the integration tests. Each test crate uses a subset,
//! hence the `dead_code` allowances.

use std::path::{Path, PathBuf};

/// File name of the test model, as `models/fetch.sh` writes it.
#[allow(dead_code)]
pub const SMOLLM2_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The crate's root directory.
#[allow(dead_code)]
pub fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of the SmolLM2-135M-Instruct Q4_1 test model.
///
/// Panics when the file is missing: a test that needs the model must fail
/// loudly rather than skip.
#[allow(dead_code)]
pub fn smollm2_path() -> PathBuf {
    let path = crate_root().join("models").join(SMOLLM2_FILE);
    if !path.is_file() {
        panic!(
            "test model {} is missing: run models/fetch.sh (scripts/test.sh does it for you)",
            path.display()
        );
    }
    path
}

/// Path of `name` in `tests/data` (whether or not it exists yet).
#[allow(dead_code)]
pub fn data_path(name: impl AsRef<Path>) -> PathBuf {
    crate_root().join("tests").join("data").join(name)
}

/// The contents of `tests/data/<name>`; panics with the path when unreadable.
#[allow(dead_code)]
pub fn read_data(name: impl AsRef<Path>) -> Vec<u8> {
    let path = data_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The two paths a model runs on; tests whose claims hold for both run on
/// each (see [`on_both_paths!`]).
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum On {
    /// WGSL on the default adapter (lavapipe on CI).
    Gpu,
    /// The native CPU path on the physical cores, best instruction set.
    Cpu,
}

/// Load options forcing `path`, with the KV cache type asked for (`None` =
/// the path's default). The GPU path computes in f32 here: these tests
/// compare it with f32 references, so its matmuls with 8-bit activations
/// (chosen by timing where allowed) are off; tests/gpu_int8.rs and
/// tests/perplexity.rs test that one.
#[allow(dead_code)]
pub fn options_on(path: On, kv_f16: Option<bool>) -> rewind::LoadOptions {
    rewind::LoadOptions {
        device: match path {
            On::Gpu => rewind::Device::Gpu,
            On::Cpu => rewind::Device::Cpu,
        },
        gpu: rewind::GpuOptions {
            kv_f16,
            tuning: rewind::gpu::GpuTuning {
                int8_matvec: Some(false),
                ..Default::default()
            },
            ..rewind::GpuOptions::default()
        },
        cpu: rewind::CpuOptions {
            kv_f16,
            ..rewind::CpuOptions::default()
        },
        ..rewind::LoadOptions::default()
    }
}

/// A model from GGUF bytes on `path`.
#[allow(dead_code)]
pub fn model_on(path: On, bytes: Vec<u8>, kv_f16: Option<bool>) -> rewind::Model {
    let file = rewind::gguf::GgufFile::from_bytes(bytes).expect("a valid GGUF");
    rewind::Model::load_file(file, &options_on(path, kv_f16), |_| {})
        .unwrap_or_else(|e| panic!("loading on the {path:?} path: {e}"))
}

/// Declares, for each `fn name(on: On)` listed, the tests `gpu::name`
/// and `cpu::name` running it on each path.
#[allow(unused_macros)]
macro_rules! on_both_paths {
    ($($name:ident),* $(,)?) => {
        mod gpu {
            $(#[test]
            fn $name() {
                super::$name($crate::common::On::Gpu)
            })*
        }
        mod cpu {
            $(#[test]
            fn $name() {
                super::$name($crate::common::On::Cpu)
            })*
        }
    };
}
