package rewind;

/** A failed call, with its {@link Status} and rewind's message. */
public class RewindException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final Status status;

    /** Thrown by the natives, with the C API's status code. */
    RewindException(int status, String message) {
        super(Status.of(status) + ": " + message);
        this.status = Status.of(status);
    }

    public Status status() {
        return status;
    }
}
