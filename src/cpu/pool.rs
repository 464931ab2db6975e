//! The threads of the CPU path: one pool per model, created at load.
//!
//! It is rayon's (already in every build of the crate through the
//! tokenizer, so it adds nothing to an app's binary): a step runs inside
//! [`Pool::install`], on a thread of the pool, so that the fork-joins of the
//! mat-muls inside it are cheap (the other threads are still spinning
//! between the ops of a step). Work is split by output chunks; every chunk
//! is computed the same way whichever thread takes it, so results don't
//! depend on the number of threads or on scheduling.

use rayon::prelude::*;

/// Why the CPU path could not start.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    #[error("starting {threads} CPU threads failed: {reason}")]
    Threads { threads: usize, reason: String },
    #[error(
        "an 8-bit KV cache on the CPU path needs a head size that is a multiple of 32, not {head_dim}"
    )]
    KvQ8HeadDim { head_dim: usize },
}

pub(crate) struct Pool {
    pool: rayon::ThreadPool,
    threads: usize,
}

impl Pool {
    /// A pool of `threads` threads (0 = the physical cores).
    pub(crate) fn new(threads: usize) -> Result<Pool, CpuError> {
        let threads = match threads {
            0 => physical_cores(),
            n => n,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("rewind-cpu-{i}"))
            .build()
            .map_err(|e| CpuError::Threads {
                threads,
                reason: e.to_string(),
            })?;
        Ok(Pool { pool, threads })
    }

    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on a thread of the pool (what runs in parallel inside it
    /// uses the pool).
    pub(crate) fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }
}

/// Calls `f(i, chunk)` for the chunks of `chunk` elements of `out`, in
/// parallel (on the pool of the enclosing [`Pool::install`]).
pub(crate) fn for_chunks<T: Send>(
    out: &mut [T],
    chunk: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if out.len() <= chunk {
        if !out.is_empty() {
            f(0, out);
        }
        return;
    }
    out.par_chunks_mut(chunk)
        .enumerate()
        .for_each(|(i, c)| f(i, c));
}

/// The physical cores this process may use: logical CPUs sharing a core
/// (SMT) count once where the OS says so (Linux), capped by what the process
/// is allowed to run on.
pub(crate) fn physical_cores() -> usize {
    let allowed = std::thread::available_parallelism().map_or(1, |n| n.get());
    physical_from_cpuinfo().map_or(allowed, |p| p.clamp(1, allowed))
}

/// Distinct (package, core) pairs of /proc/cpuinfo.
fn physical_from_cpuinfo() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mut cores = std::collections::HashSet::new();
    let mut package = None;
    for line in text.lines() {
        let mut kv = line.splitn(2, ':').map(str::trim);
        match (kv.next(), kv.next()) {
            (Some("physical id"), Some(v)) => package = Some(v.to_string()),
            (Some("core id"), Some(v)) => {
                cores.insert((package.clone(), v.to_string()));
            }
            _ => {}
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

/// The CPU's name ("AMD EPYC 9B14"), where the OS says it.
pub(crate) fn cpu_name() -> String {
    let from_cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name") || l.starts_with("Hardware"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    from_cpuinfo.unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_output_once() {
        let pool = Pool::new(3).unwrap();
        assert_eq!(pool.threads(), 3);
        let mut v = vec![0usize; 1000];
        pool.install(|| for_chunks(&mut v, 7, |i, c| c.iter_mut().for_each(|x| *x += i + 1)));
        assert!(v.iter().enumerate().all(|(j, &x)| x == j / 7 + 1));
        assert!(physical_cores() >= 1);
    }
}
