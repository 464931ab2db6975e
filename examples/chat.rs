//! Interactive (or one-shot) chat with a GGUF model, streaming its answer.
//!
//!     cargo run --release --example chat -- -p "Write a haiku about the sea."

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::{Arc, Mutex};

use rewind::{
    BacktrackOptions, CancelFlag, Control, Device, Event, GenerateOptions, GpuOptions, KvType,
    LoadOptions, Message, Model, ResetPolicy, ResetToken, SamplerConfig, Session, SessionOptions,
    Stats, StopReason,
};

#[derive(Parser, Debug)]
#[command(about = "Chat with a GGUF model on the GPU")]
struct Args {
    /// GGUF model file.
    #[arg(short, long, default_value_os_t = default_model())]
    model: PathBuf,
    /// One-shot prompt; without it, an interactive multi-turn chat.
    #[arg(short, long)]
    prompt: Option<String>,
    /// System prompt (default: the chat template's own).
    #[arg(long)]
    system: Option<String>,
    /// Most tokens per answer.
    #[arg(short = 'n', long = "max-tokens", default_value_t = 512)]
    max_tokens: usize,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.8)]
    temp: f32,
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    #[arg(long, default_value_t = 0.05)]
    min_p: f32,
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f32,
    /// RNG seed (same seed, same answer).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Use the prompt as is, without the chat template (special tokens in it are parsed).
    #[arg(long)]
    raw: bool,
    /// Keep generating past end-of-generation tokens.
    #[arg(long)]
    ignore_eos: bool,
    /// Context size in tokens (0 = the model's, capped at 4096).
    #[arg(short = 'c', long = "ctx-size", default_value_t = 0)]
    ctx_size: usize,
    /// Where the steps run: auto (the native CPU path when the best adapter
    /// is a CPU), gpu (WGSL on the best adapter) or cpu (the native CPU path).
    #[arg(long, default_value = "auto")]
    device: Device,
    /// KV cache type: f32, f16 or q8_0 (8-bit: 56% of f16's memory).
    /// Default: f16 where the adapter has f16, and on the CPU path.
    #[arg(long)]
    kv: Option<KvType>,
    /// Stop before this string (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Backend: vulkan, metal, dx12, gl (default: the best available).
    #[arg(long)]
    backend: Option<String>,
    /// What a reset does: `rollback` (restore the KV cache checkpoint) or
    /// `keep-context` (keep the discarded text in context until the turn ends).
    #[arg(long, default_value = "rollback", value_parser = ["rollback", "keep-context"])]
    policy: String,
    /// Resets allowed per answer (past it the reset token is masked).
    #[arg(long, default_value_t = 1)]
    max_resets: usize,
    /// Added to the reset token's logit (higher: resets more readily).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    reset_bias: f32,
    /// Hold the newest N tokens back, so a reset within N tokens never shows them.
    #[arg(long, default_value_t = 0)]
    holdback: usize,
    /// The reset token's text (default: `[RESET]` if the model has it; `off` disables).
    #[arg(long)]
    reset_token: Option<String>,
    /// Start of the assistant's answer, written for it (try a prefilling attack).
    #[arg(long)]
    prefill: Option<String>,
}

fn default_model() -> PathBuf {
    // The small backtracking demo model committed with the repository.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/demo-backtrack.gguf")
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: a message that
/// already quotes its cause (rewind's errors do) doesn't repeat it.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

/// What Ctrl-C does: stop the answer being generated (the conversation
/// goes on), or quit when none is.
#[derive(Default)]
struct Interrupt {
    answering: Mutex<Option<CancelFlag>>,
}

impl Interrupt {
    fn install() -> anyhow::Result<Arc<Interrupt>> {
        let state = Arc::new(Interrupt::default());
        let handler_state = state.clone();
        ctrlc::set_handler(move || {
            match handler_state.answering.lock().ok().and_then(|a| a.clone()) {
                Some(cancel) => cancel.cancel(),
                None => {
                    eprintln!();
                    std::process::exit(0);
                }
            }
        })?;
        Ok(state)
    }

    /// Marks an answer as running until the returned guard drops; Ctrl-C
    /// cancels it through the returned flag.
    fn answering(&self) -> (CancelFlag, impl Drop + '_) {
        let cancel = CancelFlag::new();
        *self.answering.lock().unwrap_or_else(|p| p.into_inner()) = Some(cancel.clone());
        struct Done<'a>(&'a Interrupt);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                *self.0.answering.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
        }
        (cancel, Done(self))
    }
}

fn parse_backend(name: &str) -> anyhow::Result<wgpu::Backends> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "vulkan" => wgpu::Backends::VULKAN,
        "metal" => wgpu::Backends::METAL,
        "dx12" => wgpu::Backends::DX12,
        "gl" | "gles" => wgpu::Backends::GL,
        other => anyhow::bail!("unknown backend `{other}` (vulkan, metal, dx12, gl)"),
    })
}

fn run(args: Args) -> anyhow::Result<()> {
    if !args.model.exists() {
        anyhow::bail!(
            "model file {} not found (run models/fetch.sh, or pass -m FILE)",
            args.model.display()
        );
    }
    let mut opts = LoadOptions {
        gpu: GpuOptions {
            backends: args.backend.as_deref().map(parse_backend).transpose()?,
            ..GpuOptions::default()
        },
        n_ctx: args.ctx_size,
        device: args.device,
        ..LoadOptions::default()
    };
    if let Some(kv) = args.kv {
        opts = opts.with_kv_type(kv);
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("loading {msg} [{bar:30}] {bytes}/{total_bytes}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(
        args.model
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
    );
    let model = Model::load_with_progress(&args.model, &opts, |p| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    })?;
    bar.finish_and_clear();
    eprintln!(
        "{} ({}, {:.1} MB) on {}",
        model.name(),
        model.file_type(),
        model.weight_bytes() as f64 / 1e6,
        model.device_info()
    );
    let mut session = Session::new(
        &model,
        &SessionOptions {
            n_ctx: args.ctx_size,
            ..SessionOptions::default()
        },
    )?;
    let gen_opts = GenerateOptions {
        sampler: SamplerConfig {
            temperature: args.temp,
            top_k: args.top_k,
            top_p: args.top_p,
            min_p: args.min_p,
            repeat_penalty: args.repeat_penalty,
            seed: args.seed,
            ..SamplerConfig::default()
        },
        max_tokens: args.max_tokens,
        stop: args.stop.clone(),
        ignore_eos: args.ignore_eos,
        prefill: args.prefill.clone().unwrap_or_default(),
        backtrack: BacktrackOptions {
            reset_token: match args.reset_token.as_deref() {
                None => ResetToken::Auto,
                Some("off") => ResetToken::Off,
                Some(t) => ResetToken::Text(t.to_string()),
            },
            policy: if args.policy == "keep-context" {
                ResetPolicy::KeepContext
            } else {
                ResetPolicy::Rollback
            },
            max_resets: args.max_resets,
            reset_bias: args.reset_bias,
            holdback: args.holdback,
        },
        ..GenerateOptions::default()
    };
    let mut messages: Vec<Message> = args.system.iter().map(Message::system).collect();
    let interrupt = Interrupt::install()?;

    if let Some(prompt) = &args.prompt {
        let text = if args.raw {
            prompt.clone()
        } else {
            messages.push(Message::user(prompt));
            model.chat_template().render(&messages, true)?
        };
        answer(&model, &mut session, &text, &gen_opts, &interrupt)?;
        return Ok(());
    }
    if args.raw {
        anyhow::bail!("--raw needs a prompt (-p)");
    }
    eprintln!(
        "interactive chat: type a message; Ctrl-C stops an answer, an empty line, Ctrl-D or Ctrl-C at the prompt quits"
    );
    let stdin = std::io::stdin();
    loop {
        eprint!("> ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        messages.push(Message::user(line.trim_end_matches(['\n', '\r'])));
        let text = model.chat_template().render(&messages, true)?;
        let reply = answer(&model, &mut session, &text, &gen_opts, &interrupt)?;
        // An answer stopped by Ctrl-C stays in the conversation as far as it
        // was shown.
        messages.push(Message::assistant(&reply));
    }
    Ok(())
}

/// Streams one answer to stdout and returns its visible text.
fn answer(
    model: &Model,
    session: &mut Session,
    text: &str,
    gen_opts: &GenerateOptions,
    interrupt: &Interrupt,
) -> anyhow::Result<String> {
    let tokens = model.tokenizer().encode_with_bos(text, true)?;
    let (cancel, _answering) = interrupt.answering();
    let gen_opts = &GenerateOptions {
        cancel: Some(cancel),
        ..gen_opts.clone()
    };
    let mut reply = String::new();
    let mut stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    if tty {
        // Remember where the answer starts, to erase it on a reset.
        print!("\x1b[s");
    }
    let mut final_stats = Stats::default();
    session.generate(&tokens, gen_opts, |ev| {
        match ev {
            Event::Text(t) => {
                reply.push_str(t);
                print!("{t}");
            }
            Event::Reset { discarded, .. } => {
                reply.clear();
                if tty {
                    // Back to the start of the answer, clear it, show the
                    // discarded text struck out and dimmed, then a marker.
                    print!(
                        "\x1b[u\x1b[J\x1b[9;2m{discarded}\x1b[0m \x1b[1;33m[reset]\x1b[0m\n\x1b[s"
                    );
                } else {
                    print!("\n[reset: the text above was discarded]\n");
                }
            }
            Event::Done { stats, reason } => {
                if reason == StopReason::Cancelled {
                    print!(" [stopped]");
                }
                final_stats = stats.clone();
            }
        }
        let _ = stdout.flush();
        Control::Continue
    })?;
    println!();
    let s = &final_stats;
    let resets = if s.resets > 0 {
        format!(
            " | {} reset(s), {} tokens discarded",
            s.resets, s.discarded_tokens
        )
    } else {
        String::new()
    };
    eprintln!(
        "prompt: {} tokens, {:.1} tok/s | generation: {} tokens, {:.1} tok/s{resets}",
        s.prompt_tokens,
        s.prompt_tokens_per_s(),
        s.generated_tokens,
        s.generation_tokens_per_s()
    );
    Ok(reply)
}
