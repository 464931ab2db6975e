//! rewind: quantized Llama-family models on any GPU wgpu reaches, with
//! backtracking decoding.

pub mod chat;
pub mod gguf;
pub mod gpu;
pub mod kv;
pub mod model;
pub mod quant;
pub mod sample;
pub mod session;
pub mod tokenizer;
