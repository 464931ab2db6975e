package rewind;

/** How to load a model; a new instance holds the defaults. */
public final class LoadOptions {
    public Device device = Device.AUTO;

    /** Threads of the CPU path (0 = the physical cores). */
    public int nThreads;

    /** Bits of {@link Backends}; 0 = all. */
    public int backends = Backends.ANY;

    public Power power = Power.HIGH_PERFORMANCE;

    /** Only adapters whose name contains this (case-insensitive); null = any. */
    public String adapter;

    /** The session context the memory estimate and budget plan for (0 = the model's). */
    public int nCtx;

    /** Most GPU bytes the model may take (0 = no limit): over it, {@link Status#OUT_OF_MEMORY}. */
    public long memoryBudget;
}
