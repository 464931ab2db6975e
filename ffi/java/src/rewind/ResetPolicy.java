package rewind;

/** What a reset does to the context. */
public enum ResetPolicy {
    /** The KV cache returns to the checkpoint in O(1); the discarded text leaves no trace. */
    ROLLBACK(0),
    /** The discarded text and [RESET] stay in context until the turn ends (as trained). */
    KEEP_CONTEXT(1);

    final int code;

    ResetPolicy(int code) {
        this.code = code;
    }
}
