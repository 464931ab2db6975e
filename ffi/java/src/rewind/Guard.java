package rewind;

/** Sees the turn's text so far after every token; returns true to reset the turn. */
@FunctionalInterface
public interface Guard {
    boolean shouldReset(String text);
}
