//! The native CPU path, for machines whose only wgpu adapter is a CPU
//! (lavapipe, llvmpipe, WARP, SwiftShader) or that have none: the same
//! forward step as the GPU graph, with 8-bit activations and integer dot
//! products through `std::arch` (AVX-512 VNNI, AVX2, NEON dot product,
//! detected at run time; portable Rust elsewhere), on a thread pool.

// The forward that uses these comes in the next commit.
#![allow(dead_code)]

mod acts;
mod isa;
mod kernels;
mod pack;
mod simd;

pub use isa::Isa;
