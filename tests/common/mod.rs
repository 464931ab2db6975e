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
