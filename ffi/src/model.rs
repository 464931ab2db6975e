//! `rw_model`: a loaded model, immutable and shared by sessions and threads,
//! reference-counted (the handle is an `Arc`'s pointer). Loading from a
//! path, a file descriptor range or caller memory; tokenizing; the adapter
//! it runs on; the memory estimate before loading.

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::Arc;

use rewind::{ComputePath, LoadOptions, LoadProgress, Message, Model};

use crate::alloc::{rw_tokens, string_for_caller};
use crate::call::{Out, arg, call, call_or, opt_str, slice_arg, str_arg};
use crate::options::{
    RW_DEVICE_CPU, RW_DEVICE_GPU, backend_bit, load_options, rw_backends, rw_device,
    rw_load_options,
};
use crate::status::{Failure, rw_status};

/// A loaded model (opaque).
pub struct rw_model {
    pub(crate) model: Model,
    info: rw_device_info,
    /// What `info.adapter` and `info.cpu_isa` point into.
    _strings: [CString; 2],
    name: CString,
}

// SAFETY: C shares a model between threads (the header says so). Its raw
// pointers (`info.adapter`, `info.cpu_isa`) point into its own `_strings`,
// never changed after creation; everything else is `Send + Sync`.
unsafe impl Send for rw_model {}
unsafe impl Sync for rw_model {}

/// The kind of adapter.
pub type rw_adapter_type = i32;
pub const RW_ADAPTER_OTHER: rw_adapter_type = 0;
pub const RW_ADAPTER_INTEGRATED_GPU: rw_adapter_type = 1;
pub const RW_ADAPTER_DISCRETE_GPU: rw_adapter_type = 2;
pub const RW_ADAPTER_VIRTUAL_GPU: rw_adapter_type = 3;
/// A software rasterizer (Mesa's lavapipe or llvmpipe, WARP...), or the
/// CPU itself on the CPU path.
pub const RW_ADAPTER_CPU: rw_adapter_type = 4;

/// What a model runs on. Owned by the model; fields are only ever added at
/// the end.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rw_device_info {
    /// The adapter's name ("llvmpipe (LLVM 15.0.6, 256 bits)"); on the CPU
    /// path, the CPU's.
    pub adapter: *const c_char,
    /// One `RW_BACKEND_*` bit; 0 on the CPU path.
    pub backend: rw_backends,
    /// `RW_ADAPTER_*`.
    pub adapter_type: rw_adapter_type,
    /// The largest storage binding in bytes: one layer of the KV cache and
    /// each piece of a weight matrix must fit in one (`UINT64_MAX` on the
    /// CPU path).
    pub max_binding_size: u64,
    /// `SHADER_F16` is enabled.
    pub shader_f16: bool,
    /// Subgroup operations are enabled.
    pub subgroups: bool,
    /// The KV cache holds f16 (else f32).
    pub kv_f16: bool,
    /// `RW_DEVICE_GPU` (WGSL kernels through wgpu) or `RW_DEVICE_CPU` (the
    /// native CPU path).
    pub device: rw_device,
    /// CPU path: its threads; 0 on the GPU path.
    pub cpu_threads: u32,
    /// CPU path: the kernels' instruction set ("avx2", "neon-dot"...); ""
    /// on the GPU path.
    pub cpu_isa: *const c_char,
}

/// GPU memory a model needs, in bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct rw_gpu_memory {
    /// The weights as uploaded.
    pub weights: u64,
    /// One session's KV cache of the options' `n_ctx` positions.
    pub kv_cache: u64,
    /// An upper bound on one session's activations and readback buffers.
    pub scratch: u64,
    /// The sum.
    pub total: u64,
}

fn adapter_type(t: wgpu::DeviceType) -> rw_adapter_type {
    match t {
        wgpu::DeviceType::IntegratedGpu => RW_ADAPTER_INTEGRATED_GPU,
        wgpu::DeviceType::DiscreteGpu => RW_ADAPTER_DISCRETE_GPU,
        wgpu::DeviceType::VirtualGpu => RW_ADAPTER_VIRTUAL_GPU,
        wgpu::DeviceType::Cpu => RW_ADAPTER_CPU,
        wgpu::DeviceType::Other => RW_ADAPTER_OTHER,
    }
}

/// Wraps a loaded model in a handle for the caller.
pub(crate) fn new_handle(model: Model) -> *mut rw_model {
    let d = model.device_info();
    let c = |s: &str| CString::new(s.replace('\0', " ")).unwrap_or_default();
    let (device, cpu_threads, isa) = match d.path {
        ComputePath::Gpu => (RW_DEVICE_GPU, 0, ""),
        ComputePath::Cpu { isa, threads } => (RW_DEVICE_CPU, threads as u32, isa.name()),
    };
    let strings = [c(&d.adapter), c(isa)];
    let name = c(model.name());
    let info = rw_device_info {
        adapter: strings[0].as_ptr(),
        backend: backend_bit(d.backend),
        adapter_type: adapter_type(d.device_type),
        max_binding_size: d.max_binding_size,
        shader_f16: d.shader_f16,
        subgroups: d.subgroups,
        kv_f16: d.kv_type == rewind::KvType::F16,
        device,
        cpu_threads,
        cpu_isa: strings[1].as_ptr(),
    };
    Arc::into_raw(Arc::new(rw_model {
        model,
        info,
        _strings: strings,
        name,
    }))
    .cast_mut()
}

/// Loads with the caller's options and progress callback.
fn load(
    options: *const rw_load_options,
    out: *mut *mut rw_model,
    load: impl FnOnce(&LoadOptions, &mut dyn FnMut(LoadProgress)) -> Result<Model, rewind::Error>,
) -> rw_status {
    call(|| {
        let out = unsafe { Out::new(out, "out") }?;
        let (opts, raw) = unsafe { load_options(options) }?;
        let mut progress = |p: LoadProgress| {
            if let Some(f) = raw.progress {
                // SAFETY: the caller's callback and user data.
                unsafe { f(p.done, p.total, raw.progress_user) }
            }
        };
        let model = load(&opts, &mut progress)?;
        out.set(new_handle(model));
        Ok(())
    })
}

/// Loads the GGUF model at `path` (memory-mapped while the weights are
/// uploaded) with `options` (NULL = defaults) and stores a handle with one
/// reference in `*out`. `RW_NOT_FOUND`, `RW_INVALID_MODEL`,
/// `RW_UNSUPPORTED`, `RW_OUT_OF_MEMORY`...
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_model_load(
    path: *const c_char,
    options: *const rw_load_options,
    out: *mut *mut rw_model,
) -> rw_status {
    let path = match unsafe { str_arg(path, "path") } {
        Ok(p) => p,
        Err(f) => return call(|| Err(f)),
    };
    load(options, out, |opts, progress| {
        Model::load_with_progress(path, opts, progress)
    })
}

/// Loads a model from `length` bytes of the open file `fd` starting at
/// byte `offset` (length 0 = to the end of the file): a descriptor from
/// Android's file picker (`ParcelFileDescriptor`), or an asset stored
/// uncompressed in an APK (`AssetFileDescriptor`'s descriptor, start
/// offset and length). The descriptor is duplicated, not closed or moved:
/// the caller still owns it. Unix only (`RW_UNSUPPORTED` elsewhere).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_model_load_fd(
    fd: c_int,
    offset: u64,
    length: u64,
    options: *const rw_load_options,
    out: *mut *mut rw_model,
) -> rw_status {
    let file = match dup_fd(fd) {
        Ok(f) => f,
        Err(f) => return call(|| Err(f)),
    };
    let len = (length > 0).then_some(length);
    load(options, out, |opts, progress| {
        Model::load_from_file(file, offset, len, opts, progress)
    })
}

/// The caller's descriptor, duplicated.
#[cfg(unix)]
fn dup_fd(fd: c_int) -> Result<std::fs::File, Failure> {
    use std::os::fd::BorrowedFd;
    if fd < 0 {
        return Err(Failure::invalid(format!(
            "fd {fd} is not a file descriptor"
        )));
    }
    // SAFETY: the caller promises `fd` is open for the call; it is only
    // duplicated here.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let owned = borrowed
        .try_clone_to_owned()
        .map_err(|e| Failure::new(crate::status::RW_IO, format!("duplicating fd {fd}: {e}")))?;
    Ok(std::fs::File::from(owned))
}

#[cfg(not(unix))]
fn dup_fd(_fd: c_int) -> Result<std::fs::File, Failure> {
    Err(Failure::new(
        crate::status::RW_UNSUPPORTED,
        "rw_model_load_fd needs a Unix file descriptor; use rw_model_load or rw_model_load_memory",
    ))
}

/// Loads a model from `size` bytes of GGUF at `data`, without copying them:
/// they are read during this call only (the caller may free them after).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_model_load_memory(
    data: *const c_void,
    size: usize,
    options: *const rw_load_options,
    out: *mut *mut rw_model,
) -> rw_status {
    let bytes = match unsafe { slice_arg(data.cast::<u8>(), size, "data") } {
        Ok(b) => b,
        Err(f) => return call(|| Err(f)),
    };
    load(options, out, |opts, progress| {
        Model::load_from_memory(bytes, opts, progress)
    })
}

/// Adds a reference to `model` (any thread) and returns it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_model_retain(model: *mut rw_model) -> *mut rw_model {
    call_or(std::ptr::null_mut(), || {
        unsafe { arg(model, "model") }?;
        // SAFETY: a live handle made by `Arc::into_raw`.
        unsafe { Arc::increment_strong_count(model) };
        Ok(model)
    })
}

/// Drops a reference to `model`; the last one frees it (sessions keep
/// their model's weights alive on their own). NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_model_release(model: *mut rw_model) {
    call_or((), || {
        if !model.is_null() {
            // SAFETY: a live handle made by `Arc::into_raw`, one reference
            // of which the caller gives up.
            unsafe { Arc::decrement_strong_count(model) };
        }
        Ok(())
    })
}

/// The adapter `model` runs on; owned by the model. NULL if model is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_model_device_info(model: *mut rw_model) -> *const rw_device_info {
    call_or(std::ptr::null(), || {
        Ok(&unsafe { arg(model, "model") }?.info as *const _)
    })
}

/// `general.name` of the model ("unnamed" if absent); owned by the model.
/// NULL if model is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_model_name(model: *mut rw_model) -> *const c_char {
    call_or(std::ptr::null(), || {
        Ok(unsafe { arg(model, "model") }?.name.as_ptr())
    })
}

/// Tokens in the vocabulary (the length of a logits row); 0 if model is
/// NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_model_vocab_size(model: *mut rw_model) -> u32 {
    call_or(0, || {
        Ok(unsafe { arg(model, "model") }?.model.config().vocab_size as u32)
    })
}

/// What the model at `path` would take on the GPU `options` picks, with one
/// session of `options->n_ctx` positions, computed from the file before
/// anything is allocated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_model_estimate_memory(
    path: *const c_char,
    options: *const rw_load_options,
    out: *mut rw_gpu_memory,
) -> rw_status {
    call(|| {
        let path = unsafe { str_arg(path, "path") }?;
        let out = unsafe { Out::new(out, "out") }?;
        let (opts, _) = unsafe { load_options(options) }?;
        let m = Model::estimate_memory(path, &opts)?;
        out.set(rw_gpu_memory {
            weights: m.weights,
            kv_cache: m.kv_cache,
            scratch: m.scratch,
            total: m.total(),
        });
        Ok(())
    })
}

/// The tokens of `text` (no BOS). `parse_special` turns the text of special
/// tokens ("<|im_start|>") into their ids: for text the application wrote,
/// not for user input. Free `*out` with `rw_tokens_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_model_tokenize(
    model: *mut rw_model,
    text: *const c_char,
    parse_special: bool,
    out: *mut rw_tokens,
) -> rw_status {
    call(|| {
        let m = unsafe { arg(model, "model") }?;
        let text = unsafe { str_arg(text, "text") }?;
        let out = unsafe { Out::new(out, "out") }?;
        out.set(rw_tokens::new(m.model.tokenize(text, parse_special)?));
        Ok(())
    })
}

/// The text of `n` tokens (special tokens as their text). Free `*out` with
/// `rw_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_model_detokenize(
    model: *mut rw_model,
    tokens: *const u32,
    n: usize,
    out: *mut *mut c_char,
) -> rw_status {
    call(|| {
        let m = unsafe { arg(model, "model") }?;
        let tokens = unsafe { slice_arg(tokens, n, "tokens") }?;
        let out = unsafe { Out::new(out, "out") }?;
        out.set(string_for_caller(&m.model.detokenize(tokens)?));
        Ok(())
    })
}

/// One turn of a conversation.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct rw_message {
    /// "system", "user" or "assistant" (templates may know others).
    pub role: *const c_char,
    pub content: *const c_char,
}

/// The messages of a C array, checked.
///
/// # Safety
/// `messages` is NULL or points to `n` messages with live strings.
pub(crate) unsafe fn messages(
    messages: *const rw_message,
    n: usize,
) -> Result<Vec<Message>, Failure> {
    unsafe { slice_arg(messages, n, "messages") }?
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let role = unsafe { str_arg(m.role, &format!("messages[{i}].role")) }?;
            let content = unsafe { opt_str(m.content, &format!("messages[{i}].content")) }?;
            Ok(Message::new(role, content.unwrap_or_default()))
        })
        .collect()
}

/// The prompt tokens of a conversation: rendered with the model's chat
/// template, ending with the assistant's header (what
/// `rw_session_generate` does with messages). Free `*out` with
/// `rw_tokens_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rw_model_chat_tokens(
    model: *mut rw_model,
    messages: *const rw_message,
    n: usize,
    out: *mut rw_tokens,
) -> rw_status {
    call(|| {
        let m = unsafe { arg(model, "model") }?;
        let msgs = unsafe { self::messages(messages, n) }?;
        let out = unsafe { Out::new(out, "out") }?;
        out.set(rw_tokens::new(m.model.chat_tokens(&msgs)?));
        Ok(())
    })
}
