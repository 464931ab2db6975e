package rewind;

import java.util.List;

/**
 * A conversation's state on the GPU: one KV cache. One thread at a time: a
 * call while another thread is inside one throws {@link RewindException}
 * with {@link Status#BUSY}; {@link #cancel()} works from any thread.
 */
public final class Session implements AutoCloseable {
    private long handle;

    public Session(Model model, SessionOptions options) {
        handle = Native.sessionNew(model.handle(), options);
    }

    public Session(Model model) {
        this(model, new SessionOptions());
    }

    private long handle() {
        if (handle == 0) {
            throw new IllegalStateException("the session is closed");
        }
        return handle;
    }

    static String[][] split(List<Message> messages) {
        String[][] rc = new String[2][messages.size()];
        for (int i = 0; i < messages.size(); i++) {
            rc[0][i] = messages.get(i).role;
            rc[1][i] = messages.get(i).content;
        }
        return rc;
    }

    /**
     * Generates one assistant turn for the conversation, reusing the part of
     * it already in the cache; events go to {@code listener} on this
     * thread. A cancelled generation returns normally with {@link
     * StopReason#CANCELLED}.
     */
    public Stats generate(List<Message> messages, GenerateOptions options, Listener listener) {
        String[][] rc = split(messages);
        return run(rc[0], rc[1], null, options, listener);
    }

    /** The same from raw token ids. */
    public Stats generate(int[] tokens, GenerateOptions options, Listener listener) {
        return run(null, null, tokens, options, listener);
    }

    private Stats run(String[] roles, String[] contents, int[] tokens, GenerateOptions options,
            Listener listener) {
        Generation g = new Generation(listener, options.guard);
        Native.sessionGenerate(handle(), roles, contents, tokens, options, g);
        g.rethrow();
        return g.stats;
    }

    /**
     * Cancels the running generation (a long prompt stops between steps),
     * or else the next one. From any thread.
     */
    public void cancel() {
        Native.sessionCancel(handle());
    }

    /** Tokens in the context: a checkpoint for {@link #truncate}. */
    public int length() {
        return Native.sessionLength(handle());
    }

    /** Rolls the context back to its first {@code length} tokens, in O(1). */
    public void truncate(int length) {
        Native.sessionTruncate(handle(), length);
    }

    /** The whole state (token history and KV cache), e.g. before the app is suspended. */
    public byte[] saveState() {
        return Native.sessionSaveState(handle());
    }

    /** Restores a state of a session of the same model; on error the session is unchanged. */
    public void restoreState(byte[] state) {
        Native.sessionRestoreState(handle(), state);
    }

    /** Frees the session; {@link Status#BUSY} while another thread uses it. */
    @Override
    public void close() {
        if (handle != 0) {
            Native.sessionFree(handle);
            handle = 0;
        }
    }
}
