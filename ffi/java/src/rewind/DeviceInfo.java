package rewind;

/** What a model runs on. */
public final class DeviceInfo {
    /** {@link Device#GPU} or {@link Device#CPU}. */
    public final Device device;
    /** The adapter's name; on the CPU path, the CPU's. */
    public final String adapter;
    /** One of {@link Backends}; 0 on the CPU path. */
    public final int backend;
    /** The largest storage binding in bytes. */
    public final long maxBindingSize;
    public final boolean shaderF16;
    public final boolean subgroups;
    public final boolean kvF16;
    /** CPU path: its threads and instruction set ("avx2", "neon-dot"...). */
    public final int cpuThreads;
    public final String cpuIsa;

    DeviceInfo(int device, String adapter, int backend, long maxBindingSize, boolean shaderF16,
            boolean subgroups, boolean kvF16, int cpuThreads, String cpuIsa) {
        this.device = Device.of(device);
        this.adapter = adapter;
        this.backend = backend;
        this.maxBindingSize = maxBindingSize;
        this.shaderF16 = shaderF16;
        this.subgroups = subgroups;
        this.kvF16 = kvF16;
        this.cpuThreads = cpuThreads;
        this.cpuIsa = cpuIsa;
    }

    @Override
    public String toString() {
        return device == Device.CPU
                ? adapter + " (CPU path, " + cpuIsa + ", " + cpuThreads + " threads)"
                : adapter + " (backend " + backend + ")";
    }
}
