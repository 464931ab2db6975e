package rewind;

/** The adapter a model runs on. */
public final class DeviceInfo {
    public final String adapter;
    /** One of {@link Backends}. */
    public final int backend;
    /** The largest storage binding in bytes. */
    public final long maxBindingSize;
    public final boolean shaderF16;
    public final boolean subgroups;
    public final boolean kvF16;

    DeviceInfo(String adapter, int backend, long maxBindingSize, boolean shaderF16,
            boolean subgroups, boolean kvF16) {
        this.adapter = adapter;
        this.backend = backend;
        this.maxBindingSize = maxBindingSize;
        this.shaderF16 = shaderF16;
        this.subgroups = subgroups;
        this.kvF16 = kvF16;
    }

    @Override
    public String toString() {
        return adapter + " (backend " + backend + ")";
    }
}
