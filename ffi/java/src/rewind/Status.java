package rewind;

/** Why a call failed: the C API's {@code rw_status} codes. */
public enum Status {
    OK(0),
    /** A null argument, a value out of range, options or a chat the model refuses. */
    INVALID_ARGUMENT(1),
    /** The model file does not exist. */
    NOT_FOUND(2),
    /** The model file is malformed or inconsistent. */
    INVALID_MODEL(3),
    /** Not runnable here: an architecture, quant type or platform rewind lacks, no GPU adapter. */
    UNSUPPORTED(4),
    /** Over the memory budget or an adapter limit, or the adapter failed to allocate. */
    OUT_OF_MEMORY(5),
    /** The GPU device was lost: load the model again. */
    DEVICE_LOST(6),
    /** The session's context holds no more tokens. */
    CONTEXT_FULL(7),
    /** Another thread is using the session: nothing was done. */
    BUSY(8),
    CANCELLED(9),
    /** Reading a file failed for a reason other than its absence. */
    IO(10),
    /** A bug in rewind, or an unexpected driver failure. */
    INTERNAL(11);

    final int code;

    Status(int code) {
        this.code = code;
    }

    static Status of(int code) {
        for (Status s : values()) {
            if (s.code == code) {
                return s;
            }
        }
        return INTERNAL;
    }
}
