package rewind;

/** The sizes of a session; a new instance holds rewind's defaults. */
public final class SessionOptions {
    /** Positions in the KV cache; 0 = the model's training context, at most 4096. */
    public int nCtx;

    /** Most tokens run in one step (a cancel takes effect between steps). */
    public int nBatch;

    public SessionOptions() {
        Native.fillSessionDefaults(this);
    }
}
