package rewind;

/**
 * The natives of the binding (ffi/src/jni/ in the Rust crate, built into
 * the same library as the C ABI with the {@code jni} feature). Each
 * marshals its arguments onto the C API and throws {@link RewindException}
 * when the call fails.
 */
final class Native {
    static {
        System.loadLibrary("rewind_ffi");
    }

    private Native() {}

    static native String version();

    static native void fillGenerateDefaults(GenerateOptions options);

    static native void fillSessionDefaults(SessionOptions options);

    static native long modelLoad(String path, LoadOptions options);

    static native long modelLoadFd(int fd, long offset, long length, LoadOptions options);

    static native long modelLoadBytes(byte[] gguf, LoadOptions options);

    static native long[] modelEstimateMemory(String path, LoadOptions options);

    static native void modelRelease(long model);

    static native String modelName(long model);

    static native int modelVocabSize(long model);

    static native DeviceInfo modelDeviceInfo(long model);

    static native int[] modelTokenize(long model, String text, boolean parseSpecial);

    static native String modelDetokenize(long model, int[] tokens);

    static native int[] modelChatTokens(long model, String[] roles, String[] contents);

    static native long sessionNew(long model, SessionOptions options);

    static native void sessionFree(long session);

    static native void sessionCancel(long session);

    /** Messages (roles and contents) or tokens, exactly one non-null. */
    static native void sessionGenerate(
            long session,
            String[] roles,
            String[] contents,
            int[] tokens,
            GenerateOptions options,
            Generation generation);

    static native int sessionLength(long session);

    static native void sessionTruncate(long session, int length);

    static native byte[] sessionSaveState(long session);

    static native void sessionRestoreState(long session, byte[] state);
}
