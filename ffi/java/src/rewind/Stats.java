package rewind;

/** Counters and timings of one generation. */
public final class Stats {
    /** Prompt tokens run (those already in the cache are reused, not run). */
    public final long promptTokens;
    /** Tokens sampled, those later discarded included. */
    public final long generatedTokens;
    /** Tokens a reset threw away (prefill included). */
    public final long discardedTokens;
    public final long resets;
    public final double promptSeconds;
    public final double generationSeconds;
    public final StopReason reason;

    Stats(long promptTokens, long generatedTokens, long discardedTokens, long resets,
            double promptSeconds, double generationSeconds, StopReason reason) {
        this.promptTokens = promptTokens;
        this.generatedTokens = generatedTokens;
        this.discardedTokens = discardedTokens;
        this.resets = resets;
        this.promptSeconds = promptSeconds;
        this.generationSeconds = generationSeconds;
        this.reason = reason;
    }

    @Override
    public String toString() {
        return String.format("%s: %d prompt tokens, %d generated, %d discarded, %d resets",
                reason, promptTokens, generatedTokens, discardedTokens, resets);
    }
}
