package rewind;

/** The backends a model may run on, as bits of {@link LoadOptions#backends}. */
public final class Backends {
    private Backends() {}

    /** All of them (Vulkan, Metal, DX12, then GL). */
    public static final int ANY = 0;
    public static final int VULKAN = 1;
    public static final int METAL = 2;
    public static final int DX12 = 4;
    /** OpenGL ES: older Android devices. */
    public static final int GL = 8;
}
