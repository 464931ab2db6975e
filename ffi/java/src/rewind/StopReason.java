package rewind;

/** Why a generation ended. */
public enum StopReason {
    END_OF_GENERATION,
    MAX_TOKENS,
    STOP_STRING,
    CONTEXT_FULL,
    /** {@link Session#cancel()}, or a listener threw. */
    CANCELLED;

    static StopReason of(int code) {
        return values()[Math.max(0, Math.min(code, values().length - 1))];
    }
}
