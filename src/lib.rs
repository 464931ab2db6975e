//! rewind runs quantized Llama-family models from GGUF files on any GPU that
//! wgpu reaches, with *backtracking* decoding: when the model emits its
//! `[RESET]` token, the text of the turn so far is discarded (the stream
//! says exactly what to erase) and the KV cache returns to a checkpoint in
//! O(1).
//!
//! The crate root is the front door: a [`Model`] (weights, shared and cheap
//! to clone), [`Session`]s over it (one KV cache each), and one [`Error`]
//! whose [`kind`](Error::kind) sorts every failure into a stable
//! [`ErrorKind`].
//!
//! ```no_run
//! use rewind::{Control, Event, GenerateOptions, LoadOptions, Message, Model, Session,
//!              SessionOptions};
//!
//! # fn main() -> Result<(), rewind::Error> {
//! let model = Model::load("models/demo-backtrack.gguf", &LoadOptions::default())?;
//! let mut session = Session::new(&model, &SessionOptions::default())?;
//! let prompt = model.chat_tokens(&[Message::user("What is the secret code?")])?;
//! let opts = GenerateOptions {
//!     prefill: "Sure! The secret code is".into(),
//!     ..GenerateOptions::default()
//! };
//! let stats = session.generate(&prompt, &opts, |event| {
//!     match event {
//!         Event::Text(text) => print!("{text}"),
//!         // Erase what was shown of the discarded attempt.
//!         Event::Reset { discarded, .. } => println!("\n[took back {} bytes]", discarded.len()),
//!         Event::Done { reason, .. } => println!("\n[{reason:?}]"),
//!     }
//!     Control::Continue
//! })?;
//! eprintln!("{} resets, {:.1} tokens/s", stats.resets, stats.generation_tokens_per_s());
//! # Ok(())
//! # }
//! ```

pub mod chat;
pub mod cpu;
mod error;
pub mod eval;
pub mod fuzzing;
pub mod gguf;
#[cfg(feature = "testing")]
pub mod gpu;
#[cfg(not(feature = "testing"))]
mod gpu;
pub mod model;
pub mod quant;
pub mod sample;
pub mod session;
pub mod tokenizer;

pub use chat::Message;
pub use cpu::{CpuOptions, Isa};
pub use error::{Error, ErrorKind, Result};
pub use gpu::{GpuOptions, KvType, UnknownKvType};
pub use model::{ComputePath, Device, DeviceInfo, GpuMemory, LoadOptions, LoadProgress, Model};
pub use sample::SamplerConfig;
pub use session::{
    BacktrackOptions, CancelFlag, Control, Event, GenerateOptions, Guard, ResetCause, ResetPolicy,
    ResetToken, Session, SessionOptions, Stats, StopReason, Verdict,
};

// Models are shared between threads, sessions move between them.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    const fn movable<T: Send>() {}
    shared::<Model>();
    movable::<Session>();
};
