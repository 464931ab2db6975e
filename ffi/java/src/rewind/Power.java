package rewind;

/** Which adapter to prefer when there are several. */
public enum Power {
    /** A discrete GPU before an integrated one. */
    HIGH_PERFORMANCE(0),
    /** An integrated GPU before a discrete one (battery life). */
    LOW(1);

    final int code;

    Power(int code) {
        this.code = code;
    }
}
