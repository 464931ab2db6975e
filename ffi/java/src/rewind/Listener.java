package rewind;

/**
 * Receives a generation's events, on the thread that called {@link
 * Session#generate}. A listener that throws stops the generation, and
 * {@code generate} rethrows.
 */
@FunctionalInterface
public interface Listener {
    /** New visible text. */
    void onText(String text);

    /** The turn so far was discarded: erase exactly {@code discarded}, the text shown since it began. */
    default void onReset(String discarded, ResetCause cause) {}

    /** The generation ended. */
    default void onDone(StopReason reason, Stats stats) {}
}
