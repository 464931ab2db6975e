//! Replays the committed fuzz corpus and crash inputs through the same
//! harnesses the cargo-fuzz targets run (`rewind::fuzzing`), so the stable
//! suite keeps every input that once crashed fixed without nightly.
//!
//! `fuzz/corpus/<target>/` holds each target's minimized corpus and
//! `fuzz/regressions/<target>/` the inputs that crashed, hung or allocated
//! too much before their fix (see README.md, "Reliability").

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rewind::fuzzing;

/// A harness of `rewind::fuzzing`: panics on a bug, returns otherwise.
type Harness = fn(&[u8]);

const TARGETS: [(&str, Harness); 5] = [
    ("gguf", fuzzing::gguf),
    ("tokenizer", fuzzing::tokenizer),
    ("chat", fuzzing::chat),
    ("state", fuzzing::state),
    ("sampler", fuzzing::sampler),
];

/// Generous next to libFuzzer's `-timeout=5`: the replay runs unoptimized
/// dependencies in debug builds.
const MAX_INPUT_TIME: Duration = Duration::from_secs(20);

/// Largest single allocation an input may make: libFuzzer's
/// `-malloc_limit_mb`, tighter than the 32 MiB the fuzzing ran with (the
/// inputs are at most tens of KB).
const MAX_ALLOCATION: usize = 16 << 20;

/// The system allocator, recording the largest allocation it was asked for.
struct Watched;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged.
unsafe impl GlobalAlloc for Watched {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Watched = Watched;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted; empty when the directory is missing.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.expect("readable directory entry").path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Runs `harness` on every file of `dir`; returns how many there were.
fn replay(dir: &Path, harness: Harness) -> usize {
    let inputs = files(dir);
    for path in &inputs {
        let data = std::fs::read(path).expect("readable fuzz input");
        let start = Instant::now();
        // A panic names the input: the harness's own message follows.
        eprintln!("replaying {}", path.display());
        harness(&data);
        let took = start.elapsed();
        assert!(took < MAX_INPUT_TIME, "{} took {took:?}", path.display());
        // The largest allocation so far, from any test thread: each input
        // stays under the bound, so all of them do.
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            largest <= MAX_ALLOCATION,
            "{} (or an input before it) allocated {largest} bytes at once",
            path.display()
        );
    }
    inputs.len()
}

#[test]
fn every_target_has_a_committed_corpus_that_replays() {
    for (target, harness) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        let n = replay(&dir, harness);
        assert!(
            n > 0,
            "{} is missing or empty: the fuzz corpus must be committed",
            dir.display()
        );
    }
}

#[test]
fn crash_inputs_stay_fixed() {
    let mut total = 0;
    for (target, harness) in TARGETS {
        total += replay(&fuzz_dir().join("regressions").join(target), harness);
    }
    assert!(total > 0, "fuzz/regressions holds no crash input");
}
