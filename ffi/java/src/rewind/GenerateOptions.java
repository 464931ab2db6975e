package rewind;

/** How to generate one assistant turn; a new instance holds rewind's defaults. */
public final class GenerateOptions {
    /** Most tokens to generate, counting those a reset discards. */
    public int maxTokens;
    /** Softmax temperature; <= 0 is greedy. */
    public float temperature;
    public int topK;
    public float topP;
    public float minP;
    public float repeatPenalty;
    public int repeatLastN;
    public float presencePenalty;
    public float frequencyPenalty;
    public long seed;
    /** Generation stops before any of these (not emitted). */
    public String[] stop = {};
    /** Text the answer starts with, fed after the checkpoint (a reset discards it too). */
    public String prefill = "";
    public boolean ignoreEos;
    public ResetPolicy policy = ResetPolicy.ROLLBACK;
    /** Resets allowed per turn. */
    public int maxResets;
    /** Added to the reset token's logit. */
    public float resetBias;
    /** Newest tokens held back from the stream, so a reset within them never shows them. */
    public int holdback;
    public ResetToken resetToken = ResetToken.AUTO;
    public String resetTokenText;
    public int resetTokenId;
    /** May reset the turn; null = none. */
    public Guard guard;

    public GenerateOptions() {
        Native.fillGenerateDefaults(this);
    }

    /** The defaults with greedy decoding. */
    public static GenerateOptions greedy() {
        GenerateOptions o = new GenerateOptions();
        o.temperature = 0;
        return o;
    }
}
