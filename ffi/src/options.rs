//! The options structs of loading, sessions and generation, their
//! defaults, and their conversion into rewind's options. Each starts with
//! `struct_size` so it can grow (see [`read_sized`](crate::call::read_sized)),
//! and every enum-like field is a fixed-width integer checked on the way
//! in, so an unknown value is a status rather than undefined behaviour.

use std::ffi::{c_char, c_void};

use rewind::{
    BacktrackOptions, Device, GenerateOptions, GpuOptions, LoadOptions, ResetPolicy, ResetToken,
    SamplerConfig, SessionOptions,
};

use crate::call::{init_sized, opt_str, read_sized, slice_arg};
use crate::status::{Failure, rw_status};

/// A set of wgpu backends (bits of `RW_BACKEND_*`); 0 = all of them.
pub type rw_backends = u32;
/// Every backend: Vulkan, Metal, DX12, then GL.
pub const RW_BACKEND_ANY: rw_backends = 0;
pub const RW_BACKEND_VULKAN: rw_backends = 1;
pub const RW_BACKEND_METAL: rw_backends = 2;
pub const RW_BACKEND_DX12: rw_backends = 4;
/// OpenGL / OpenGL ES (EGL, WGL or WebGL): older Android devices.
pub const RW_BACKEND_GL: rw_backends = 8;

/// Which adapter to prefer when there are several.
pub type rw_power = i32;
/// A discrete GPU before an integrated one (the default).
pub const RW_POWER_HIGH_PERFORMANCE: rw_power = 0;
/// An integrated GPU before a discrete one (battery life).
pub const RW_POWER_LOW: rw_power = 1;

/// Which implementation runs a model.
pub type rw_device = i32;
/// The GPU, unless the best wgpu adapter is a CPU (lavapipe, llvmpipe,
/// WARP, SwiftShader) or there is none: then the native CPU path, several
/// times faster than WGSL on a software driver. An adapter named in
/// `adapter` is always used. The default.
pub const RW_DEVICE_AUTO: rw_device = 0;
/// The best wgpu adapter, whatever it is (WGSL kernels).
pub const RW_DEVICE_GPU: rw_device = 1;
/// The native CPU path (SIMD kernels chosen at run time, a thread pool).
pub const RW_DEVICE_CPU: rw_device = 2;

/// What to do with the discarded text's context on a reset.
pub type rw_reset_policy = i32;
/// The KV cache returns to the checkpoint in O(1); the discarded tokens
/// leave no trace (the default).
pub const RW_POLICY_ROLLBACK: rw_reset_policy = 0;
/// The discarded text and the reset token stay in context until the turn
/// ends (as the model was trained), then only the visible answer is kept.
pub const RW_POLICY_KEEP_CONTEXT: rw_reset_policy = 1;

/// Which token means "discard what I said in this turn".
pub type rw_reset_token = i32;
/// `[RESET]` if the vocabulary has it; backtracking is off otherwise.
pub const RW_RESET_TOKEN_AUTO: rw_reset_token = 0;
/// The token whose text is `reset_token_text`.
pub const RW_RESET_TOKEN_TEXT: rw_reset_token = 1;
/// The token `reset_token_id`.
pub const RW_RESET_TOKEN_ID: rw_reset_token = 2;
/// No reset token (a guard may still reset).
pub const RW_RESET_TOKEN_OFF: rw_reset_token = 3;

/// Called during a load with the bytes of weights uploaded so far and in
/// all, on the loading thread.
pub type rw_progress_fn = Option<unsafe extern "C" fn(done: u64, total: u64, user: *mut c_void)>;

/// How to load a model. Start from `rw_load_options_default()`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rw_load_options {
    /// `sizeof(rw_load_options)` as the caller's header declares it (the
    /// default/init functions set it): the struct can grow.
    pub struct_size: u32,
    /// Backends to consider (`RW_BACKEND_*` bits; 0 = all).
    pub backends: rw_backends,
    /// `RW_POWER_HIGH_PERFORMANCE` or `RW_POWER_LOW`.
    pub power: rw_power,
    /// The session context the memory estimate and budget plan for (0 = the
    /// model's training context, at most 4096). Sessions set their own.
    pub n_ctx: u32,
    /// Most GPU memory the model (weights, one session's KV cache and
    /// scratch) may take, in bytes; over it the load fails with
    /// `RW_OUT_OF_MEMORY` before allocating. 0 = no limit.
    pub memory_budget: u64,
    /// Only adapters whose name contains this (case-insensitive); NULL = any.
    pub adapter: *const c_char,
    /// Progress of the upload, or NULL.
    pub progress: rw_progress_fn,
    pub progress_user: *mut c_void,
    /// `RW_DEVICE_AUTO`, `RW_DEVICE_GPU` or `RW_DEVICE_CPU`.
    pub device: rw_device,
    /// Threads of the CPU path (0 = the physical cores).
    pub n_threads: u32,
}

impl Default for rw_load_options {
    fn default() -> Self {
        rw_load_options {
            struct_size: std::mem::size_of::<rw_load_options>() as u32,
            backends: RW_BACKEND_ANY,
            power: RW_POWER_HIGH_PERFORMANCE,
            n_ctx: 0,
            memory_budget: 0,
            adapter: std::ptr::null(),
            progress: None,
            progress_user: std::ptr::null_mut(),
            device: RW_DEVICE_AUTO,
            n_threads: 0,
        }
    }
}

/// The sizes of a session. Start from `rw_session_options_default()`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rw_session_options {
    /// `sizeof(rw_session_options)` as the caller's header declares it.
    pub struct_size: u32,
    /// Positions in the KV cache; 0 = the model's training context, at most
    /// 4096.
    pub n_ctx: u32,
    /// Most tokens run in one step: the prompt is processed in chunks of
    /// this many, and a cancel takes effect between chunks.
    pub n_batch: u32,
}

impl Default for rw_session_options {
    fn default() -> Self {
        let rust = SessionOptions::default();
        rw_session_options {
            struct_size: std::mem::size_of::<rw_session_options>() as u32,
            n_ctx: rust.n_ctx as u32,
            n_batch: rust.n_batch as u32,
        }
    }
}

/// A bias added to one token's logit (`-INFINITY` bans it).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rw_logit_bias {
    pub token: u32,
    pub bias: f32,
}

/// A guard: sees the turn's text so far (`len` bytes, NUL-terminated,
/// held-back text included) after every token and returns true to reset
/// the turn. Called on the thread that called `rw_session_generate` or
/// `rw_session_next`.
pub type rw_guard_fn =
    Option<unsafe extern "C" fn(text: *const c_char, len: usize, user: *mut c_void) -> bool>;

/// Edits the `n` logits of step `step` of the turn (0-based, discarded
/// tokens counted) before the reset bias and the sampler see them. Called
/// on the same thread as the guard.
pub type rw_logits_fn =
    Option<unsafe extern "C" fn(step: usize, logits: *mut f32, n: usize, user: *mut c_void)>;

/// How to generate one assistant turn. Start from
/// `rw_generate_options_default()` (rewind's defaults: llama.cpp's sampler
/// with a fixed seed, 512 tokens, backtracking on `[RESET]` with rollback
/// and one reset per turn).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rw_generate_options {
    /// `sizeof(rw_generate_options)` as the caller's header declares it.
    pub struct_size: u32,
    /// Most tokens to generate, counting those a reset discards.
    pub max_tokens: u32,
    /// Softmax temperature; <= 0 is greedy (argmax).
    pub temperature: f32,
    /// 0 = off.
    pub top_k: u32,
    /// In (0, 1]; 1 = off.
    pub top_p: f32,
    /// In [0, 1]; 0 = off.
    pub min_p: f32,
    /// > 0; 1 = off.
    pub repeat_penalty: f32,
    /// How many of the latest tokens the penalties look at; 0 = none.
    pub repeat_last_n: u32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    /// The sampler's seed (the same seed, options and prompt give the same
    /// tokens).
    pub seed: u64,
    /// `n_logit_bias` biases, or NULL.
    pub logit_bias: *const rw_logit_bias,
    pub n_logit_bias: usize,
    /// `n_stop` strings generation stops before (not emitted), or NULL.
    pub stop: *const *const c_char,
    pub n_stop: usize,
    /// Text the answer starts with, fed after the checkpoint (a reset
    /// discards it too), or NULL.
    pub prefill: *const c_char,
    /// Keep going past end-of-generation tokens.
    pub ignore_eos: bool,
    /// `RW_POLICY_ROLLBACK` or `RW_POLICY_KEEP_CONTEXT`.
    pub policy: rw_reset_policy,
    /// Resets allowed per turn; past it the reset token is masked.
    pub max_resets: u32,
    /// Added to the reset token's logit (the safety/efficiency knob).
    pub reset_bias: f32,
    /// Newest tokens held back from the stream, so that a reset within that
    /// many tokens never shows them.
    pub holdback: u32,
    /// `RW_RESET_TOKEN_*`.
    pub reset_token: rw_reset_token,
    /// The reset token's text for `RW_RESET_TOKEN_TEXT`.
    pub reset_token_text: *const c_char,
    /// The reset token's id for `RW_RESET_TOKEN_ID`.
    pub reset_token_id: u32,
    /// A guard that may reset the turn, or NULL.
    pub guard: rw_guard_fn,
    pub guard_user: *mut c_void,
    /// A logits processor, or NULL.
    pub logits: rw_logits_fn,
    pub logits_user: *mut c_void,
}

impl Default for rw_generate_options {
    fn default() -> Self {
        let g = GenerateOptions::default();
        let s = &g.sampler;
        let b = &g.backtrack;
        rw_generate_options {
            struct_size: std::mem::size_of::<rw_generate_options>() as u32,
            max_tokens: g.max_tokens as u32,
            temperature: s.temperature,
            top_k: s.top_k as u32,
            top_p: s.top_p,
            min_p: s.min_p,
            repeat_penalty: s.repeat_penalty,
            repeat_last_n: s.repeat_last_n as u32,
            presence_penalty: s.presence_penalty,
            frequency_penalty: s.frequency_penalty,
            seed: s.seed,
            logit_bias: std::ptr::null(),
            n_logit_bias: 0,
            stop: std::ptr::null(),
            n_stop: 0,
            prefill: std::ptr::null(),
            ignore_eos: g.ignore_eos,
            policy: RW_POLICY_ROLLBACK,
            max_resets: b.max_resets as u32,
            reset_bias: b.reset_bias,
            holdback: b.holdback as u32,
            reset_token: RW_RESET_TOKEN_AUTO,
            reset_token_text: std::ptr::null(),
            reset_token_id: 0,
            guard: None,
            guard_user: std::ptr::null_mut(),
            logits: None,
            logits_user: std::ptr::null_mut(),
        }
    }
}

/// Fills `options` (of `size` bytes: pass `sizeof *options`) with the
/// defaults. `rw_load_options_default()` does this for you.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_load_options_init(
    options: *mut rw_load_options,
    size: usize,
) -> rw_status {
    crate::call::call(|| unsafe {
        init_sized(options, size, rw_load_options::default(), "options")
    })
}

/// Fills `options` (of `size` bytes: pass `sizeof *options`) with the
/// defaults. `rw_session_options_default()` does this for you.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_session_options_init(
    options: *mut rw_session_options,
    size: usize,
) -> rw_status {
    crate::call::call(|| unsafe {
        init_sized(options, size, rw_session_options::default(), "options")
    })
}

/// Fills `options` (of `size` bytes: pass `sizeof *options`) with the
/// defaults. `rw_generate_options_default()` does this for you.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_generate_options_init(
    options: *mut rw_generate_options,
    size: usize,
) -> rw_status {
    crate::call::call(|| unsafe {
        init_sized(options, size, rw_generate_options::default(), "options")
    })
}

/// The backends of `RW_BACKEND_*` bits.
pub(crate) fn backends(bits: rw_backends) -> Result<Option<wgpu::Backends>, Failure> {
    let known = RW_BACKEND_VULKAN | RW_BACKEND_METAL | RW_BACKEND_DX12 | RW_BACKEND_GL;
    if bits & !known != 0 {
        return Err(Failure::invalid(format!(
            "unknown backend bits {:#x}",
            bits & !known
        )));
    }
    if bits == RW_BACKEND_ANY {
        return Ok(None);
    }
    let mut b = wgpu::Backends::empty();
    for (bit, backend) in [
        (RW_BACKEND_VULKAN, wgpu::Backends::VULKAN),
        (RW_BACKEND_METAL, wgpu::Backends::METAL),
        (RW_BACKEND_DX12, wgpu::Backends::DX12),
        (RW_BACKEND_GL, wgpu::Backends::GL),
    ] {
        if bits & bit != 0 {
            b |= backend;
        }
    }
    Ok(Some(b))
}

/// The `RW_BACKEND_*` value of one backend (0 for one rewind doesn't name).
pub(crate) fn backend_bit(b: wgpu::Backend) -> rw_backends {
    match b {
        wgpu::Backend::Vulkan => RW_BACKEND_VULKAN,
        wgpu::Backend::Metal => RW_BACKEND_METAL,
        wgpu::Backend::Dx12 => RW_BACKEND_DX12,
        wgpu::Backend::Gl => RW_BACKEND_GL,
        _ => 0,
    }
}

/// A caller's load options, checked, as rewind's (the progress callback
/// stays with the caller's struct).
///
/// # Safety
/// `p` is NULL or a valid `rw_load_options` whose strings are live.
pub(crate) unsafe fn load_options(
    p: *const rw_load_options,
) -> Result<(LoadOptions, rw_load_options), Failure> {
    let o = unsafe { read_sized(p, rw_load_options::default(), "options") }?;
    let power_preference = match o.power {
        RW_POWER_HIGH_PERFORMANCE => wgpu::PowerPreference::HighPerformance,
        RW_POWER_LOW => wgpu::PowerPreference::LowPower,
        other => {
            return Err(Failure::invalid(format!(
                "unknown power preference {other}"
            )));
        }
    };
    let gpu = GpuOptions {
        backends: backends(o.backends)?,
        adapter: unsafe { opt_str(o.adapter, "options->adapter") }?.map(str::to_string),
        power_preference,
        ..GpuOptions::default()
    };
    let device = match o.device {
        RW_DEVICE_AUTO => Device::Auto,
        RW_DEVICE_GPU => Device::Gpu,
        RW_DEVICE_CPU => Device::Cpu,
        other => return Err(Failure::invalid(format!("unknown device {other}"))),
    };
    let rust = LoadOptions {
        device,
        n_threads: o.n_threads as usize,
        gpu,
        gpu_memory_budget: (o.memory_budget > 0).then_some(o.memory_budget),
        n_ctx: o.n_ctx as usize,
        ..LoadOptions::default()
    };
    Ok((rust, o))
}

/// A caller's session options as rewind's.
///
/// # Safety
/// `p` is NULL or a valid `rw_session_options`.
pub(crate) unsafe fn session_options(
    p: *const rw_session_options,
) -> Result<SessionOptions, Failure> {
    let o = unsafe { read_sized(p, rw_session_options::default(), "options") }?;
    Ok(SessionOptions {
        n_ctx: o.n_ctx as usize,
        n_batch: o.n_batch as usize,
        ..SessionOptions::default()
    })
}

/// The host callbacks of a generation, kept apart from the options because
/// where they run depends on the API (push: inside the core's loop; pull:
/// forwarded to the thread reading events).
#[derive(Clone, Copy)]
pub(crate) struct Hooks {
    pub guard: Option<(
        unsafe extern "C" fn(*const c_char, usize, *mut c_void) -> bool,
        *mut c_void,
    )>,
    pub logits: Option<(
        unsafe extern "C" fn(usize, *mut f32, usize, *mut c_void),
        *mut c_void,
    )>,
}

// SAFETY: the caller's callbacks and user data are only called from a
// thread inside one of the caller's calls (push: `rw_session_generate`'s
// thread; pull: the thread in `rw_session_next`), as the header documents;
// never from a thread of the library's own.
unsafe impl Send for Hooks {}
unsafe impl Sync for Hooks {}

impl Hooks {
    /// Asks the guard; true = reset.
    pub fn guard(&self, text: &str) -> bool {
        let Some((f, user)) = self.guard else {
            return false;
        };
        let c = std::ffi::CString::new(text.replace('\0', " ")).unwrap_or_default();
        // SAFETY: the caller's function, with a NUL-terminated string live
        // for the call.
        unsafe { f(c.as_ptr(), text.len(), user) }
    }

    pub fn process(&self, step: usize, logits: &mut [f32]) {
        if let Some((f, user)) = self.logits {
            // SAFETY: the caller's function, with `logits.len()` floats.
            unsafe { f(step, logits.as_mut_ptr(), logits.len(), user) }
        }
    }
}

/// A caller's generation options as rewind's (without guard and logits
/// processor, which are in the returned [`Hooks`]).
///
/// # Safety
/// `p` is NULL or a valid `rw_generate_options` whose pointers are live.
pub(crate) unsafe fn generate_options(
    p: *const rw_generate_options,
) -> Result<(GenerateOptions, Hooks), Failure> {
    let o = unsafe { read_sized(p, rw_generate_options::default(), "options") }?;
    let logit_bias = unsafe { slice_arg(o.logit_bias, o.n_logit_bias, "options->logit_bias") }?
        .iter()
        .map(|b| (b.token, b.bias))
        .collect();
    let stop = unsafe { slice_arg(o.stop, o.n_stop, "options->stop") }?
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            unsafe { crate::call::str_arg(s, &format!("options->stop[{i}]")) }.map(str::to_string)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let policy = match o.policy {
        RW_POLICY_ROLLBACK => ResetPolicy::Rollback,
        RW_POLICY_KEEP_CONTEXT => ResetPolicy::KeepContext,
        other => return Err(Failure::invalid(format!("unknown reset policy {other}"))),
    };
    let reset_token = match o.reset_token {
        RW_RESET_TOKEN_AUTO => ResetToken::Auto,
        RW_RESET_TOKEN_TEXT => ResetToken::Text(
            unsafe { crate::call::str_arg(o.reset_token_text, "options->reset_token_text") }?
                .to_string(),
        ),
        RW_RESET_TOKEN_ID => ResetToken::Id(o.reset_token_id),
        RW_RESET_TOKEN_OFF => ResetToken::Off,
        other => {
            return Err(Failure::invalid(format!(
                "unknown reset token kind {other}"
            )));
        }
    };
    if o.reset_bias.is_nan() {
        return Err(Failure::invalid("options->reset_bias is NaN"));
    }
    let rust = GenerateOptions {
        sampler: SamplerConfig {
            temperature: o.temperature,
            top_k: o.top_k as usize,
            top_p: o.top_p,
            min_p: o.min_p,
            repeat_penalty: o.repeat_penalty,
            repeat_last_n: o.repeat_last_n as usize,
            presence_penalty: o.presence_penalty,
            frequency_penalty: o.frequency_penalty,
            logit_bias,
            seed: o.seed,
        },
        max_tokens: o.max_tokens as usize,
        stop,
        ignore_eos: o.ignore_eos,
        prefill: unsafe { opt_str(o.prefill, "options->prefill") }?
            .unwrap_or_default()
            .to_string(),
        backtrack: BacktrackOptions {
            reset_token,
            policy,
            max_resets: o.max_resets as usize,
            reset_bias: o.reset_bias,
            holdback: o.holdback as usize,
        },
        ..GenerateOptions::default()
    };
    let hooks = Hooks {
        guard: o.guard.map(|f| (f, o.guard_user)),
        logits: o.logits.map(|f| (f, o.logits_user)),
    };
    Ok((rust, hooks))
}
