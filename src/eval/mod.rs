//! Evaluations that run a model through sessions: perplexity, computed the
//! way llama.cpp computes it.

pub mod perplexity;

pub use perplexity::{Perplexity, perplexity};
