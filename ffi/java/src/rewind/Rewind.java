package rewind;

/** The library itself. */
public final class Rewind {
    private Rewind() {}

    /** The native library's version. */
    public static String version() {
        return Native.version();
    }
}
