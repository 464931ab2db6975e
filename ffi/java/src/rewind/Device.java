package rewind;

/** Which implementation runs a model. */
public enum Device {
    /** The GPU, unless the best adapter is a CPU (a software driver) or there is none: then the CPU path. */
    AUTO(0),
    /** The best wgpu adapter, whatever it is. */
    GPU(1),
    /** The native CPU path. */
    CPU(2);

    final int code;

    Device(int code) {
        this.code = code;
    }

    static Device of(int code) {
        return code == 2 ? CPU : code == 1 ? GPU : AUTO;
    }
}
