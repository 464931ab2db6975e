package rewind;

/** Which token means "discard what I said in this turn". */
public enum ResetToken {
    /** [RESET] if the vocabulary has it; backtracking is off otherwise. */
    AUTO(0),
    /** The token whose text is {@link GenerateOptions#resetTokenText}. */
    TEXT(1),
    /** The token {@link GenerateOptions#resetTokenId}. */
    ID(2),
    /** No reset token (a guard may still reset). */
    OFF(3);

    final int code;

    ResetToken(int code) {
        this.code = code;
    }
}
