package rewind;

/** Who asked for a reset. */
public enum ResetCause {
    /** The model sampled its reset token. */
    MODEL,
    /** The {@link Guard}. */
    GUARD;

    static ResetCause of(int code) {
        return code == 1 ? GUARD : MODEL;
    }
}
