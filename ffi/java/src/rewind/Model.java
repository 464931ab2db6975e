package rewind;

import java.util.List;

/**
 * A model loaded on the GPU. Immutable and thread-safe: any number of
 * threads and {@link Session}s may use it; sessions keep it alive after
 * {@link #close()}.
 */
public final class Model implements AutoCloseable {
    private long handle;

    private Model(long handle) {
        this.handle = handle;
    }

    /** Loads the GGUF file at {@code path}. */
    public static Model load(String path, LoadOptions options) {
        return new Model(Native.modelLoad(path, options));
    }

    public static Model load(String path) {
        return load(path, new LoadOptions());
    }

    /**
     * Loads {@code length} bytes of the open file {@code fd} from byte {@code
     * offset} (length 0: to the end): on Android, {@code
     * ParcelFileDescriptor.getFd()} of a picked file, or an uncompressed
     * asset's {@code AssetFileDescriptor} (its descriptor, start offset and
     * length). The descriptor stays the caller's.
     */
    public static Model load(int fd, long offset, long length, LoadOptions options) {
        return new Model(Native.modelLoadFd(fd, offset, length, options));
    }

    /** Loads a GGUF file held in memory (read during the call only). */
    public static Model load(byte[] gguf, LoadOptions options) {
        return new Model(Native.modelLoadBytes(gguf, options));
    }

    /** {weights, KV cache, scratch, total} bytes the model at {@code path} would take. */
    public static long[] estimateMemory(String path, LoadOptions options) {
        return Native.modelEstimateMemory(path, options);
    }

    long handle() {
        if (handle == 0) {
            throw new IllegalStateException("the model is closed");
        }
        return handle;
    }

    public String name() {
        return Native.modelName(handle());
    }

    public int vocabSize() {
        return Native.modelVocabSize(handle());
    }

    public DeviceInfo deviceInfo() {
        return Native.modelDeviceInfo(handle());
    }

    /** The tokens of {@code text}; {@code parseSpecial} for text the app wrote, not user input. */
    public int[] tokenize(String text, boolean parseSpecial) {
        return Native.modelTokenize(handle(), text, parseSpecial);
    }

    public String detokenize(int[] tokens) {
        return Native.modelDetokenize(handle(), tokens);
    }

    /** The prompt tokens of a conversation, rendered with the model's chat template. */
    public int[] chatTokens(List<Message> messages) {
        String[][] rc = Session.split(messages);
        return Native.modelChatTokens(handle(), rc[0], rc[1]);
    }

    /** Releases this handle (sessions keep the weights alive). */
    @Override
    public void close() {
        if (handle != 0) {
            Native.modelRelease(handle);
            handle = 0;
        }
    }
}
