/*
 * rewind.h: the C API of rewind, which runs quantized Llama-family GGUF
 * models on any GPU wgpu reaches, with backtracking decoding (when the model
 * emits [RESET], the turn's text so far is discarded, RW_EVENT_RESET says
 * exactly what to erase, and the KV cache returns to a checkpoint in O(1)).
 *
 * Status. Every fallible function returns an rw_status, RW_OK (0) on
 * success. rw_last_error() has the message of the latest call on the
 * thread. A NULL pointer, text that is not UTF-8 or a value out of range is
 * RW_INVALID_ARGUMENT, never a crash; a panic inside rewind is RW_INTERNAL.
 *
 * Ownership. rw_model_load* give a model with one reference (rw_model_retain
 * adds one, rw_model_release drops one); rw_session_new gives a session
 * (rw_session_free). Memory handed out: rw_tokens -> rw_tokens_free, char*
 * -> rw_string_free. Every other pointer the library returns (events, device
 * info, names, error messages) is the library's, valid as documented.
 * Arguments are read during the call only; the caller keeps them.
 *
 * Threads. A model is immutable: any number of threads and sessions may use
 * it, and a session keeps its model alive. A session is used by one thread
 * at a time: a call while another thread is inside one on the same session
 * returns RW_BUSY and does nothing. rw_session_cancel works from any thread,
 * at any time. There is no global state but the log callback.
 *
 * Callbacks (events, guard, logits, progress) run on the thread that made
 * the call, during it; the log callback on any thread. None may unwind
 * through the library (C++ exceptions, longjmp).
 *
 * Options. The options structs begin with struct_size, so they can grow:
 * start from rw_*_options_default() (inline, at the end of this file: it
 * records the struct's size in your build) and change fields. NULL options
 * mean the defaults.
 *
 * Safety. Pointer arguments are NULL or valid for what the function reads
 * or writes; handles come from this library and are not used after their
 * free or last release.
 */


#ifndef REWIND_H
#define REWIND_H

/* Generated from ffi/src by cbindgen (ffi/cbindgen.toml). Do not edit. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * The version of the C ABI: bumped when a function or struct changes
 * incompatibly (structs grow compatibly through their `struct_size`).
 */
#define RW_ABI_VERSION 1

/**
 * A loaded model (opaque).
 */
typedef struct rw_model rw_model;

/**
 * A conversation's state on the GPU (opaque).
 */
typedef struct rw_session rw_session;

/**
 * What a fallible call returns: `RW_OK` or one of the error codes below.
 * `rw_last_error()` has the message of the failure.
 */
typedef int32_t rw_status;

/**
 * A set of wgpu backends (bits of `RW_BACKEND_*`); 0 = all of them.
 */
typedef uint32_t rw_backends;

/**
 * Which adapter to prefer when there are several.
 */
typedef int32_t rw_power;

/**
 * Called during a load with the bytes of weights uploaded so far and in
 * all, on the loading thread.
 */
typedef void (*rw_progress_fn)(uint64_t done, uint64_t total, void *user);

/**
 * Which implementation runs a model.
 */
typedef int32_t rw_device;

/**
 * How to load a model. Start from `rw_load_options_default()`.
 */
typedef struct rw_load_options {
    /**
     * `sizeof(rw_load_options)` as the caller's header declares it (the
     * default/init functions set it): the struct can grow.
     */
    uint32_t struct_size;
    /**
     * Backends to consider (`RW_BACKEND_*` bits; 0 = all).
     */
    rw_backends backends;
    /**
     * `RW_POWER_HIGH_PERFORMANCE` or `RW_POWER_LOW`.
     */
    rw_power power;
    /**
     * The session context the memory estimate and budget plan for (0 = the
     * model's training context, at most 4096). Sessions set their own.
     */
    uint32_t n_ctx;
    /**
     * Most GPU memory the model (weights, one session's KV cache and
     * scratch) may take, in bytes; over it the load fails with
     * `RW_OUT_OF_MEMORY` before allocating. 0 = no limit.
     */
    uint64_t memory_budget;
    /**
     * Only adapters whose name contains this (case-insensitive); NULL = any.
     */
    const char *adapter;
    /**
     * Progress of the upload, or NULL.
     */
    rw_progress_fn progress;
    void *progress_user;
    /**
     * `RW_DEVICE_AUTO`, `RW_DEVICE_GPU` or `RW_DEVICE_CPU`.
     */
    rw_device device;
    /**
     * Threads of the CPU path (0 = the physical cores).
     */
    uint32_t n_threads;
} rw_load_options;

/**
 * The sizes of a session. Start from `rw_session_options_default()`.
 */
typedef struct rw_session_options {
    /**
     * `sizeof(rw_session_options)` as the caller's header declares it.
     */
    uint32_t struct_size;
    /**
     * Positions in the KV cache; 0 = the model's training context, at most
     * 4096.
     */
    uint32_t n_ctx;
    /**
     * Most tokens run in one step: the prompt is processed in chunks of
     * this many, and a cancel takes effect between chunks.
     */
    uint32_t n_batch;
} rw_session_options;

/**
 * A bias added to one token's logit (`-INFINITY` bans it).
 */
typedef struct rw_logit_bias {
    uint32_t token;
    float bias;
} rw_logit_bias;

/**
 * What to do with the discarded text's context on a reset.
 */
typedef int32_t rw_reset_policy;

/**
 * Which token means "discard what I said in this turn".
 */
typedef int32_t rw_reset_token;

/**
 * A guard: sees the turn's text so far (`len` bytes, NUL-terminated,
 * held-back text included) after every token and returns true to reset
 * the turn. Called on the thread that called `rw_session_generate` or
 * `rw_session_next`.
 */
typedef bool (*rw_guard_fn)(const char *text, size_t len, void *user);

/**
 * Edits the `n` logits of step `step` of the turn (0-based, discarded
 * tokens counted) before the reset bias and the sampler see them. Called
 * on the same thread as the guard.
 */
typedef void (*rw_logits_fn)(size_t step, float *logits, size_t n, void *user);

/**
 * How to generate one assistant turn. Start from
 * `rw_generate_options_default()` (rewind's defaults: llama.cpp's sampler
 * with a fixed seed, 512 tokens, backtracking on `[RESET]` with rollback
 * and one reset per turn).
 */
typedef struct rw_generate_options {
    /**
     * `sizeof(rw_generate_options)` as the caller's header declares it.
     */
    uint32_t struct_size;
    /**
     * Most tokens to generate, counting those a reset discards.
     */
    uint32_t max_tokens;
    /**
     * Softmax temperature; <= 0 is greedy (argmax).
     */
    float temperature;
    /**
     * 0 = off.
     */
    uint32_t top_k;
    /**
     * In (0, 1]; 1 = off.
     */
    float top_p;
    /**
     * In [0, 1]; 0 = off.
     */
    float min_p;
    /**
     * > 0; 1 = off.
     */
    float repeat_penalty;
    /**
     * How many of the latest tokens the penalties look at; 0 = none.
     */
    uint32_t repeat_last_n;
    float presence_penalty;
    float frequency_penalty;
    /**
     * The sampler's seed (the same seed, options and prompt give the same
     * tokens).
     */
    uint64_t seed;
    /**
     * `n_logit_bias` biases, or NULL.
     */
    const struct rw_logit_bias *logit_bias;
    size_t n_logit_bias;
    /**
     * `n_stop` strings generation stops before (not emitted), or NULL.
     */
    const char *const *stop;
    size_t n_stop;
    /**
     * Text the answer starts with, fed after the checkpoint (a reset
     * discards it too), or NULL.
     */
    const char *prefill;
    /**
     * Keep going past end-of-generation tokens.
     */
    bool ignore_eos;
    /**
     * `RW_POLICY_ROLLBACK` or `RW_POLICY_KEEP_CONTEXT`.
     */
    rw_reset_policy policy;
    /**
     * Resets allowed per turn; past it the reset token is masked.
     */
    uint32_t max_resets;
    /**
     * Added to the reset token's logit (the safety/efficiency knob).
     */
    float reset_bias;
    /**
     * Newest tokens held back from the stream, so that a reset within that
     * many tokens never shows them.
     */
    uint32_t holdback;
    /**
     * `RW_RESET_TOKEN_*`.
     */
    rw_reset_token reset_token;
    /**
     * The reset token's text for `RW_RESET_TOKEN_TEXT`.
     */
    const char *reset_token_text;
    /**
     * The reset token's id for `RW_RESET_TOKEN_ID`.
     */
    uint32_t reset_token_id;
    /**
     * A guard that may reset the turn, or NULL.
     */
    rw_guard_fn guard;
    void *guard_user;
    /**
     * A logits processor, or NULL.
     */
    rw_logits_fn logits;
    void *logits_user;
} rw_generate_options;

/**
 * The kind of adapter.
 */
typedef int32_t rw_adapter_type;

/**
 * What a model runs on. Owned by the model; fields are only ever added at
 * the end.
 */
typedef struct rw_device_info {
    /**
     * The adapter's name ("llvmpipe (LLVM 15.0.6, 256 bits)"); on the CPU
     * path, the CPU's.
     */
    const char *adapter;
    /**
     * One `RW_BACKEND_*` bit; 0 on the CPU path.
     */
    rw_backends backend;
    /**
     * `RW_ADAPTER_*`.
     */
    rw_adapter_type adapter_type;
    /**
     * The largest storage binding in bytes: one layer of the KV cache and
     * each piece of a weight matrix must fit in one (`UINT64_MAX` on the
     * CPU path).
     */
    uint64_t max_binding_size;
    /**
     * `SHADER_F16` is enabled.
     */
    bool shader_f16;
    /**
     * Subgroup operations are enabled.
     */
    bool subgroups;
    /**
     * The KV cache holds f16 (else f32).
     */
    bool kv_f16;
    /**
     * `RW_DEVICE_GPU` (WGSL kernels through wgpu) or `RW_DEVICE_CPU` (the
     * native CPU path).
     */
    rw_device device;
    /**
     * CPU path: its threads; 0 on the GPU path.
     */
    uint32_t cpu_threads;
    /**
     * CPU path: the kernels' instruction set ("avx2", "neon-dot"...); ""
     * on the GPU path.
     */
    const char *cpu_isa;
} rw_device_info;

/**
 * GPU memory a model needs, in bytes.
 */
typedef struct rw_gpu_memory {
    /**
     * The weights as uploaded.
     */
    uint64_t weights;
    /**
     * One session's KV cache of the options' `n_ctx` positions.
     */
    uint64_t kv_cache;
    /**
     * An upper bound on one session's activations and readback buffers.
     */
    uint64_t scratch;
    /**
     * The sum.
     */
    uint64_t total;
} rw_gpu_memory;

/**
 * Token ids the library allocated (`rw_model_tokenize`,
 * `rw_model_chat_tokens`). Free with `rw_tokens_free`.
 */
typedef struct rw_tokens {
    uint32_t *data;
    size_t len;
} rw_tokens;

/**
 * One turn of a conversation.
 */
typedef struct rw_message {
    /**
     * "system", "user" or "assistant" (templates may know others).
     */
    const char *role;
    const char *content;
} rw_message;

/**
 * What to generate from: either messages, rendered with the model's chat
 * template (ending with the assistant's header), or raw token ids fed as
 * they are. Exactly one of `n_messages` and `n_tokens` is non-zero.
 */
typedef struct rw_prompt {
    const struct rw_message *messages;
    size_t n_messages;
    const uint32_t *tokens;
    size_t n_tokens;
} rw_prompt;

/**
 * The event callback's answer.
 */
typedef int32_t rw_control;

/**
 * What an event is.
 */
typedef int32_t rw_event_kind;

/**
 * Who asked for a reset.
 */
typedef int32_t rw_reset_cause;

/**
 * Why a generation ended.
 */
typedef int32_t rw_stop_reason;

/**
 * Counters and timings of one generation.
 */
typedef struct rw_stats {
    /**
     * Prompt tokens run (those already in the cache are reused, not run).
     */
    uint64_t prompt_tokens;
    /**
     * Tokens sampled, those later discarded included.
     */
    uint64_t generated_tokens;
    /**
     * Tokens a reset threw away (prefill included).
     */
    uint64_t discarded_tokens;
    uint64_t resets;
    double prompt_seconds;
    double generation_seconds;
} rw_stats;

/**
 * One event of a generation. Owned by the library: valid during the
 * callback (push) or until the next call on the session (pull).
 */
typedef struct rw_event {
    /**
     * `RW_EVENT_TEXT`, `RW_EVENT_RESET` or `RW_EVENT_DONE`.
     */
    rw_event_kind kind;
    /**
     * `RW_EVENT_RESET`: `RW_RESET_BY_*`; 0 otherwise.
     */
    rw_reset_cause reset_cause;
    /**
     * TEXT: the new text; RESET: the discarded text; DONE: "". UTF-8,
     * NUL-terminated, never NULL.
     */
    const char *text;
    /**
     * Bytes of `text`, without the NUL (text may hold NUL bytes).
     */
    size_t text_len;
    /**
     * `RW_EVENT_DONE`: `RW_STOP_*`; 0 otherwise.
     */
    rw_stop_reason stop_reason;
    /**
     * `RW_EVENT_DONE`: the generation's counters; zeros otherwise.
     */
    struct rw_stats stats;
} rw_event;

/**
 * Receives each event of a generation, on the calling thread; the event
 * and its text are valid during the call only.
 */
typedef rw_control (*rw_event_fn)(const struct rw_event *event, void *user);

/**
 * Severity of a log record (the `log` crate's levels).
 */
typedef int32_t rw_log_level;

/**
 * Receives one log record: its level, its source ("rewind::model",
 * "wgpu_core::device"...) and message, NUL-terminated and valid during the
 * call. Called from whichever thread logs (the caller's, or a generation's
 * worker thread in the pull API): it must be thread-safe.
 */
typedef void (*rw_log_fn)(rw_log_level level, const char *target, const char *message, void *user);

/**
 * Success.
 */
#define RW_OK 0

/**
 * A NULL pointer, text that isn't UTF-8, a value out of range, options
 * the sampler or the chat template refuse, saved state that doesn't fit.
 */
#define RW_INVALID_ARGUMENT 1

/**
 * The model file does not exist.
 */
#define RW_NOT_FOUND 2

/**
 * The model file is malformed or inconsistent.
 */
#define RW_INVALID_MODEL 3

/**
 * Well-formed but not runnable here: another architecture, a quant type
 * without kernels, no usable GPU adapter, a platform without the call.
 */
#define RW_UNSUPPORTED 4

/**
 * Over the memory budget, over an adapter limit, or the adapter failed to
 * allocate.
 */
#define RW_OUT_OF_MEMORY 5

/**
 * The GPU device was lost: load the model again.
 */
#define RW_DEVICE_LOST 6

/**
 * The session's context holds no more tokens (or the prompt leaves no
 * room to generate).
 */
#define RW_CONTEXT_FULL 7

/**
 * Another thread is inside a call on this session, or a generation
 * started with `rw_session_start` is still running: nothing was done.
 */
#define RW_BUSY 8

/**
 * The operation was cancelled before it produced a result. (A cancelled
 * generation is not an error: it ends with `RW_STOP_CANCELLED`.)
 */
#define RW_CANCELLED 9

/**
 * Reading a file failed for a reason other than its absence.
 */
#define RW_IO 10

/**
 * A bug (a panic inside rewind, caught at the boundary) or an unexpected
 * driver failure.
 */
#define RW_INTERNAL 11

/**
 * Every backend: Vulkan, Metal, DX12, then GL.
 */
#define RW_BACKEND_ANY 0

#define RW_BACKEND_VULKAN 1

#define RW_BACKEND_METAL 2

#define RW_BACKEND_DX12 4

/**
 * OpenGL / OpenGL ES (EGL, WGL or WebGL): older Android devices.
 */
#define RW_BACKEND_GL 8

/**
 * A discrete GPU before an integrated one (the default).
 */
#define RW_POWER_HIGH_PERFORMANCE 0

/**
 * An integrated GPU before a discrete one (battery life).
 */
#define RW_POWER_LOW 1

/**
 * The GPU, unless the best wgpu adapter is a CPU (lavapipe, llvmpipe,
 * WARP, SwiftShader) or there is none: then the native CPU path, several
 * times faster than WGSL on a software driver. An adapter named in
 * `adapter` is always used. The default.
 */
#define RW_DEVICE_AUTO 0

/**
 * The best wgpu adapter, whatever it is (WGSL kernels).
 */
#define RW_DEVICE_GPU 1

/**
 * The native CPU path (SIMD kernels chosen at run time, a thread pool).
 */
#define RW_DEVICE_CPU 2

/**
 * The KV cache returns to the checkpoint in O(1); the discarded tokens
 * leave no trace (the default).
 */
#define RW_POLICY_ROLLBACK 0

/**
 * The discarded text and the reset token stay in context until the turn
 * ends (as the model was trained), then only the visible answer is kept.
 */
#define RW_POLICY_KEEP_CONTEXT 1

/**
 * `[RESET]` if the vocabulary has it; backtracking is off otherwise.
 */
#define RW_RESET_TOKEN_AUTO 0

/**
 * The token whose text is `reset_token_text`.
 */
#define RW_RESET_TOKEN_TEXT 1

/**
 * The token `reset_token_id`.
 */
#define RW_RESET_TOKEN_ID 2

/**
 * No reset token (a guard may still reset).
 */
#define RW_RESET_TOKEN_OFF 3

#define RW_ADAPTER_OTHER 0

#define RW_ADAPTER_INTEGRATED_GPU 1

#define RW_ADAPTER_DISCRETE_GPU 2

#define RW_ADAPTER_VIRTUAL_GPU 3

/**
 * A software rasterizer (Mesa's lavapipe or llvmpipe, WARP...), or the
 * CPU itself on the CPU path.
 */
#define RW_ADAPTER_CPU 4

/**
 * New visible text: `text` is what to append.
 */
#define RW_EVENT_TEXT 0

/**
 * The turn so far was discarded: `text` is exactly the text shown since the
 * turn began (what a UI must erase), `reset_cause` says who asked.
 */
#define RW_EVENT_RESET 1

/**
 * The generation ended: `stop_reason` and `stats` say how. Always the
 * last event of a generation that didn't fail.
 */
#define RW_EVENT_DONE 2

/**
 * The model sampled its reset token.
 */
#define RW_RESET_BY_MODEL 0

/**
 * The host's guard callback.
 */
#define RW_RESET_BY_GUARD 1

/**
 * The model emitted an end-of-generation token.
 */
#define RW_STOP_END_OF_GENERATION 0

#define RW_STOP_MAX_TOKENS 1

/**
 * A stop string was reached (it is not emitted).
 */
#define RW_STOP_STOP_STRING 2

#define RW_STOP_CONTEXT_FULL 3

/**
 * `rw_session_cancel`, or the event callback returned `RW_STOP`.
 */
#define RW_STOP_CANCELLED 4

#define RW_CONTINUE 0

/**
 * Stop the generation (it ends with `RW_STOP_CANCELLED`).
 */
#define RW_STOP 1

/**
 * Logging off.
 */
#define RW_LOG_OFF 0

#define RW_LOG_ERROR 1

#define RW_LOG_WARN 2

#define RW_LOG_INFO 3

#define RW_LOG_DEBUG 4

#define RW_LOG_TRACE 5

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The library's version ("0.1.0"). A static string.
 */
const char *rw_version(void);

/**
 * `RW_ABI_VERSION` as the library was built: compare with the header's.
 */
uint32_t rw_abi_version(void);

/**
 * The message of the latest call on this thread that returned a status
 * (empty when it returned `RW_OK`), or of a later call without one that
 * failed (a getter given NULL returns NULL or 0 and says why here). Owned
 * by the library, valid until the next `rw_*` call on this thread; never
 * NULL.
 */
const char *rw_last_error(void);

/**
 * The name of a status ("RW_BUSY"), or "RW_UNKNOWN" for a value that is
 * none of them. A static string, never NULL.
 */
const char *rw_status_name(rw_status status);

/**
 * Fills `options` (of `size` bytes: pass `sizeof *options`) with the
 * defaults. `rw_load_options_default()` does this for you.
 */
rw_status rw_load_options_init(struct rw_load_options *options, size_t size);

/**
 * Fills `options` (of `size` bytes: pass `sizeof *options`) with the
 * defaults. `rw_session_options_default()` does this for you.
 */
rw_status rw_session_options_init(struct rw_session_options *options, size_t size);

/**
 * Fills `options` (of `size` bytes: pass `sizeof *options`) with the
 * defaults. `rw_generate_options_default()` does this for you.
 */
rw_status rw_generate_options_init(struct rw_generate_options *options, size_t size);

/**
 * Loads the GGUF model at `path` (memory-mapped while the weights are
 * uploaded) with `options` (NULL = defaults) and stores a handle with one
 * reference in `*out`. `RW_NOT_FOUND`, `RW_INVALID_MODEL`,
 * `RW_UNSUPPORTED`, `RW_OUT_OF_MEMORY`...
 */
rw_status rw_model_load(const char *path,
                        const struct rw_load_options *options,
                        struct rw_model **out);

/**
 * Loads a model from `length` bytes of the open file `fd` starting at
 * byte `offset` (length 0 = to the end of the file): a descriptor from
 * Android's file picker (`ParcelFileDescriptor`), or an asset stored
 * uncompressed in an APK (`AssetFileDescriptor`'s descriptor, start
 * offset and length). The descriptor is duplicated, not closed or moved:
 * the caller still owns it. Unix only (`RW_UNSUPPORTED` elsewhere).
 */
rw_status rw_model_load_fd(int fd,
                           uint64_t offset,
                           uint64_t length,
                           const struct rw_load_options *options,
                           struct rw_model **out);

/**
 * Loads a model from `size` bytes of GGUF at `data`, without copying them:
 * they are read during this call only (the caller may free them after).
 */
rw_status rw_model_load_memory(const void *data,
                               size_t size,
                               const struct rw_load_options *options,
                               struct rw_model **out);

/**
 * Adds a reference to `model` (any thread) and returns it.
 */
struct rw_model *rw_model_retain(struct rw_model *model);

/**
 * Drops a reference to `model`; the last one frees it (sessions keep
 * their model's weights alive on their own). NULL does nothing.
 */
void rw_model_release(struct rw_model *model);

/**
 * The adapter `model` runs on; owned by the model. NULL if model is NULL.
 */
const struct rw_device_info *rw_model_device_info(struct rw_model *model);

/**
 * `general.name` of the model ("unnamed" if absent); owned by the model.
 * NULL if model is NULL.
 */
const char *rw_model_name(struct rw_model *model);

/**
 * Tokens in the vocabulary (the length of a logits row); 0 if model is
 * NULL.
 */
uint32_t rw_model_vocab_size(struct rw_model *model);

/**
 * What the model at `path` would take on the GPU `options` picks, with one
 * session of `options->n_ctx` positions, computed from the file before
 * anything is allocated.
 */
rw_status rw_model_estimate_memory(const char *path,
                                   const struct rw_load_options *options,
                                   struct rw_gpu_memory *out);

/**
 * The tokens of `text` (no BOS). `parse_special` turns the text of special
 * tokens ("<|im_start|>") into their ids: for text the application wrote,
 * not for user input. Free `*out` with `rw_tokens_free`.
 */
rw_status rw_model_tokenize(struct rw_model *model,
                            const char *text,
                            bool parse_special,
                            struct rw_tokens *out);

/**
 * The text of `n` tokens (special tokens as their text). Free `*out` with
 * `rw_string_free`.
 */
rw_status rw_model_detokenize(struct rw_model *model, const uint32_t *tokens, size_t n, char **out);

/**
 * The prompt tokens of a conversation: rendered with the model's chat
 * template, ending with the assistant's header (what
 * `rw_session_generate` does with messages). Free `*out` with
 * `rw_tokens_free`.
 */
rw_status rw_model_chat_tokens(struct rw_model *model,
                               const struct rw_message *messages,
                               size_t n,
                               struct rw_tokens *out);

/**
 * Creates a session of `model` with `options` (NULL = defaults). The
 * session keeps the model's weights alive: the model handle may be
 * released before it.
 */
rw_status rw_session_new(struct rw_model *model,
                         const struct rw_session_options *options,
                         struct rw_session **out);

/**
 * Frees a session. A generation started with `rw_session_start` is
 * cancelled and waited for. `RW_BUSY` (and nothing freed) while another
 * thread is inside a call on it: cancel, let that call return, free again.
 * NULL is `RW_OK`.
 */
rw_status rw_session_free(struct rw_session *session);

/**
 * Cancels the session's generation from any thread: the one running (a
 * long prompt stops between chunks of `n_batch` tokens, decoding before
 * the next token), or else the next one, which then ends at once. The
 * generation ends normally with `RW_STOP_CANCELLED`.
 */
rw_status rw_session_cancel(struct rw_session *session);

/**
 * Tokens in the session's context: the checkpoint to pass to
 * `rw_session_truncate` later.
 */
rw_status rw_session_length(struct rw_session *session, size_t *out);

/**
 * Rolls the context back to its first `length` tokens, in O(1) (the cache
 * keeps its contents; only its length changes). `length` above the
 * current length is `RW_INVALID_ARGUMENT`.
 */
rw_status rw_session_truncate(struct rw_session *session, size_t length);

/**
 * Runs `n` tokens at the next positions of the context (for hosts that
 * sample themselves). When `logits` is not NULL, the last token's logits
 * are written there: `n_logits` must be at least `rw_model_vocab_size`.
 * A bad token id or a full context fails before anything runs.
 */
rw_status rw_session_feed(struct rw_session *session,
                          const uint32_t *tokens,
                          size_t n,
                          float *logits,
                          size_t n_logits);

/**
 * Bytes `rw_session_save_state` writes now (computed, not saved).
 */
rw_status rw_session_state_size(struct rw_session *session, size_t *out);

/**
 * Saves the session's whole state (token history and KV cache) into `buf`
 * of `capacity` bytes and its size into `*written`. When `capacity` is
 * below the size, nothing is written but `*written` (the size needed) and
 * the status is `RW_INVALID_ARGUMENT`. The bytes restore into any session
 * of the same model (`rw_session_restore_state`), e.g. after an app was
 * suspended.
 */
rw_status rw_session_save_state(struct rw_session *session,
                                uint8_t *buf,
                                size_t capacity,
                                size_t *written);

/**
 * Replaces the session's state with `size` bytes `rw_session_save_state`
 * wrote (by a session of the same model). Every byte is checked first: on
 * error (`RW_INVALID_ARGUMENT`) the session is unchanged.
 */
rw_status rw_session_restore_state(struct rw_session *session, const uint8_t *data, size_t size);

/**
 * Generates one assistant turn on the calling thread. The context is made
 * equal to the prompt (reusing the longest prefix already in the cache, so
 * a conversation re-sent with a new turn only runs the new tokens), then
 * each event goes to `on_event(event, user)`: text, a reset with the
 * discarded text (erase exactly that), and last, done. Returns after
 * the done event; a cancelled generation is `RW_OK` with
 * `RW_STOP_CANCELLED`. `options` NULL = defaults.
 */
rw_status rw_session_generate(struct rw_session *session,
                              const struct rw_prompt *prompt,
                              const struct rw_generate_options *options,
                              rw_event_fn on_event,
                              void *user);

/**
 * Starts a generation (as `rw_session_generate` would run it) without
 * waiting: read its events with `rw_session_next` until `RW_EVENT_DONE`.
 * Until then the session is `RW_BUSY` to every other call but
 * `rw_session_next`, `rw_session_cancel` and `rw_session_free`.
 */
rw_status rw_session_start(struct rw_session *session,
                           const struct rw_prompt *prompt,
                           const struct rw_generate_options *options);

/**
 * Waits for the next event of the generation `rw_session_start` started
 * and points `*event` at it: owned by the session, valid until the next
 * call on the session. After `RW_EVENT_DONE` the session is free for other
 * calls. A generation that fails returns its status here instead (the
 * session is free again, no done event follows). The guard and logits
 * callbacks of the options are called from inside this call.
 */
rw_status rw_session_next(struct rw_session *session, const struct rw_event **event);

/**
 * Frees the ids of `tokens` (allocated by the library) and sets it to
 * `{NULL, 0}`. NULL, or tokens already freed this way, do nothing.
 */
void rw_tokens_free(struct rw_tokens *tokens);

/**
 * Frees a string the library allocated (`rw_model_detokenize`). NULL does
 * nothing.
 */
void rw_string_free(char *s);

/**
 * Sends log records at `max_level` and more severe to `callback` (NULL or
 * `RW_LOG_OFF`: no logging). Replaces an earlier callback. `RW_UNSUPPORTED`
 * if another Rust logger was installed in this process first.
 */
rw_status rw_set_log_callback(rw_log_fn callback, void *user, rw_log_level max_level);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* REWIND_H */

#ifdef __cplusplus
extern "C" {
#endif

/** The default load options (rw_load_options_init with this header's size). */
static inline rw_load_options rw_load_options_default(void) {
    rw_load_options o;
    rw_load_options_init(&o, sizeof o);
    return o;
}

/** The default session options. */
static inline rw_session_options rw_session_options_default(void) {
    rw_session_options o;
    rw_session_options_init(&o, sizeof o);
    return o;
}

/** The default generation options. */
static inline rw_generate_options rw_generate_options_default(void) {
    rw_generate_options o;
    rw_generate_options_init(&o, sizeof o);
    return o;
}

#ifdef __cplusplus
}
#endif
