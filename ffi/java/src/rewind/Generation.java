package rewind;

/** One running generation: the natives call it with each event and guard question. */
final class Generation {
    private final Listener listener;
    private final Guard guard;
    Stats stats;
    Throwable failure;

    Generation(Listener listener, Guard guard) {
        this.listener = listener;
        this.guard = guard;
    }

    /** An event (kind as in the C API); false stops the generation. */
    boolean event(int kind, String text, int code, long promptTokens, long generatedTokens,
            long discardedTokens, long resets, double promptSeconds, double generationSeconds) {
        if (failure != null) {
            return false;
        }
        try {
            switch (kind) {
                case 0:
                    listener.onText(text);
                    break;
                case 1:
                    listener.onReset(text, ResetCause.of(code));
                    break;
                default:
                    stats = new Stats(promptTokens, generatedTokens, discardedTokens, resets,
                            promptSeconds, generationSeconds, StopReason.of(code));
                    listener.onDone(stats.reason, stats);
            }
            return true;
        } catch (Throwable t) {
            failure = t;
            return false;
        }
    }

    boolean guard(String text) {
        if (failure != null) {
            return false;
        }
        try {
            return guard.shouldReset(text);
        } catch (Throwable t) {
            failure = t;
            return false;
        }
    }

    /** Rethrows what a listener or guard threw. */
    void rethrow() {
        if (failure instanceof RuntimeException) {
            throw (RuntimeException) failure;
        }
        if (failure instanceof Error) {
            throw (Error) failure;
        }
        if (failure != null) {
            throw new RuntimeException(failure);
        }
    }
}
