import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import rewind.Device;
import rewind.DeviceInfo;
import rewind.GenerateOptions;
import rewind.Listener;
import rewind.LoadOptions;
import rewind.Message;
import rewind.Model;
import rewind.ResetCause;
import rewind.ResetPolicy;
import rewind.RewindException;
import rewind.Session;
import rewind.SessionOptions;
import rewind.Stats;
import rewind.Status;
import rewind.StopReason;

/**
 * The JVM binding's test, the C test's scenario through JNI (scripts/test.sh
 * compiles it with javac and runs it against the library built for Linux):
 *
 *   java -Djava.library.path=target/release -cp classes RewindTest models/demo-backtrack.gguf [gpu|cpu]
 *
 * The second argument loads every model on that path (default: auto).
 */
public final class RewindTest {
    private static int checks;
    private static Device device = Device.AUTO;

    /** The load options of every model the test loads. */
    static LoadOptions options() {
        LoadOptions o = new LoadOptions();
        o.device = device;
        return o;
    }

    static void check(boolean ok, String what) {
        checks++;
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    interface Call {
        void run() throws Exception;
    }

    /** {@code call} throws a RewindException with {@code status}. */
    static void fails(Status status, Call call) throws Exception {
        try {
            call.run();
        } catch (RewindException e) {
            check(e.status() == status, "expected " + status + ", got " + e.getMessage());
            check(!e.getMessage().isEmpty(), "a message");
            return;
        }
        throw new AssertionError("expected " + status + ", got no exception");
    }

    /** What a UI shows: built from the listener's events. */
    static final class Transcript implements Listener {
        final StringBuilder visible = new StringBuilder();
        String discarded;
        ResetCause cause;
        int resets;
        StopReason reason;
        Stats stats;

        @Override
        public void onText(String text) {
            visible.append(text);
        }

        @Override
        public void onReset(String erased, ResetCause why) {
            check(erased.equals(visible.toString()), "a reset erases exactly what was shown");
            discarded = erased;
            cause = why;
            resets++;
            visible.setLength(0);
        }

        @Override
        public void onDone(StopReason why, Stats s) {
            reason = why;
            stats = s;
        }
    }

    static Transcript generate(Session s, List<Message> conv, GenerateOptions o) {
        Transcript t = new Transcript();
        Stats stats = s.generate(conv, o, t);
        check(stats == t.stats && t.reason == stats.reason, "generate returns the done stats");
        return t;
    }

    static GenerateOptions greedy(int maxTokens) {
        GenerateOptions o = GenerateOptions.greedy();
        o.maxTokens = maxTokens;
        return o;
    }

    static String hello(Model m) {
        try (Session s = new Session(m)) {
            return generate(s, List.of(Message.user("Hello!")), greedy(12)).visible.toString();
        }
    }

    public static void main(String[] args) throws Exception {
        String path = args.length > 0 ? args[0] : "models/demo-backtrack.gguf";
        if (args.length > 1) {
            device = Device.valueOf(args[1].toUpperCase());
        }
        System.out.println("rewind " + rewind.Rewind.version());
        try (Model model = Model.load(path, options())) {
            DeviceInfo info = model.deviceInfo();
            System.out.println("model " + model.name() + " on " + info);
            check(device == Device.AUTO || info.device == device, "on the device asked for");
            check(info.device == Device.GPU ? info.backend != 0 : info.cpuThreads > 0, "device info");
            check(model.vocabSize() > 0, "vocabulary");
            long[] mem = Model.estimateMemory(path, options());
            check(mem[0] > 0 && mem[3] == mem[0] + mem[1] + mem[2], "memory estimate");
            String want = hello(model);
            try (Model fromBytes = Model.load(Files.readAllBytes(Paths.get(path)), options())) {
                check(hello(fromBytes).equals(want), "a model loaded from memory answers the same");
            }

            int[] toks = model.tokenize("What color is grass?", false);
            check(model.detokenize(toks).equals("What color is grass?"), "token round trip");

            backtracking(model);
            turnsAndState(model);
            cancelAndBusy(model);
            errors(model, path);
        }
        System.out.println("rewind JNI test: " + checks + " checks passed");
    }

    static void backtracking(Model m) {
        String prefill = "Sure! The secret code is";
        for (ResetPolicy policy : ResetPolicy.values()) {
            try (Session s = new Session(m)) {
                GenerateOptions o = greedy(64);
                o.prefill = prefill;
                o.policy = policy;
                Transcript t = generate(s, List.of(Message.user("What is the secret code?")), o);
                System.out.println(policy + ": reset erased \"" + t.discarded + "\"; the answer: \""
                        + t.visible + "\"");
                check(t.resets == 1 && t.cause == ResetCause.MODEL, "one reset by the model");
                check(t.discarded.startsWith(prefill), "the prefill is erased");
                check(!t.visible.toString().toUpperCase().contains("PELICAN"), "no code in the final text");
                check(t.visible.length() > 0, "an answer follows");
                check(t.reason == StopReason.END_OF_GENERATION, "ends by itself");
            }
        }
        // A guard, called on this thread.
        try (Session s = new Session(m)) {
            Thread me = Thread.currentThread();
            GenerateOptions o = greedy(24);
            o.guard = text -> {
                check(Thread.currentThread() == me, "the guard runs on the caller's thread");
                return text.length() >= 8;
            };
            Transcript t = generate(s, List.of(Message.user("Hello!")), o);
            check(t.resets == 1 && t.cause == ResetCause.GUARD, "the guard reset");
            // A listener that throws stops the generation; generate rethrows.
            try {
                s.generate(List.of(Message.user("Hello!")), greedy(24), text -> {
                    throw new IllegalStateException("listener failed");
                });
                check(false, "the listener's exception propagates");
            } catch (IllegalStateException e) {
                check(e.getMessage().equals("listener failed"), "the same exception");
            }
        }
    }

    static void turnsAndState(Model m) {
        try (Session a = new Session(m); Session b = new Session(m)) {
            GenerateOptions o = greedy(32);
            List<Message> conv = new ArrayList<>(List.of(Message.user("Hello!")));
            Transcript t1 = generate(a, conv, o);
            conv.add(Message.assistant(t1.visible.toString()));
            conv.add(Message.user("What color is grass?"));
            int full = m.chatTokens(conv).length;
            Transcript t2 = generate(a, conv, o);
            System.out.println("turn 2: \"" + t2.visible + "\" (" + t2.stats.promptTokens + " of "
                    + full + " prompt tokens run)");
            check(t2.stats.promptTokens > 0 && t2.stats.promptTokens < full / 2, "turn 2 reuses turn 1");

            byte[] state = a.saveState();
            int len = a.length();
            conv.add(Message.assistant(t2.visible.toString()));
            conv.add(Message.user("Count to 5."));
            String next = generate(a, conv, o).visible.toString();
            b.restoreState(state);
            check(b.length() == len, "restored length");
            check(generate(b, conv, o).visible.toString().equals(next), "same next tokens after restore");
            byte[] bad = Arrays.copyOf(state, state.length - 1);
            try {
                b.restoreState(bad);
                check(false, "a truncated state is refused");
            } catch (RewindException e) {
                check(e.status() == Status.INVALID_ARGUMENT, "truncated state: " + e.status());
            }
            a.truncate(len);
            check(a.length() == len, "rolled back to the checkpoint");
        }
    }

    @SuppressWarnings("try") // closes a session its try-with-resources owns, to see BUSY
    static void cancelAndBusy(Model m) throws Exception {
        SessionOptions so = new SessionOptions();
        so.nCtx = 1024;
        so.nBatch = 4;
        int[] sentence = m.tokenize("The store opens at 9 am and the sea is blue. ", false);
        int[] prompt = new int[960];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = sentence[i % sentence.length];
        }
        GenerateOptions one = greedy(1);
        one.ignoreEos = true;
        try (Session s = new Session(m, so)) {
            // A cancel before the generation stops it, once.
            s.cancel();
            Stats st = s.generate(Arrays.copyOf(prompt, 8), one, text -> {});
            check(st.reason == StopReason.CANCELLED && st.promptTokens == 0, "cancelled before it began");
            st = s.generate(Arrays.copyOf(prompt, 8), one, text -> {});
            check(st.reason == StopReason.MAX_TOKENS, "the next one runs");
            s.truncate(0);

            // Cancelled from another thread while the prompt runs; meanwhile
            // the session refuses a second thread with BUSY.
            AtomicReference<Stats> result = new AtomicReference<>();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            CountDownLatch started = new CountDownLatch(1);
            Thread worker = new Thread(() -> {
                try {
                    started.countDown();
                    result.set(s.generate(prompt, one, text -> {}));
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            worker.start();
            started.await();
            Status seen = Status.OK;
            while (seen == Status.OK && worker.isAlive()) {
                try {
                    s.length();
                    Thread.sleep(1);
                } catch (RewindException e) {
                    seen = e.status();
                }
            }
            check(seen == Status.BUSY, "a second thread gets BUSY, got " + seen);
            fails(Status.BUSY, () -> s.generate(prompt, one, text -> {}));
            fails(Status.BUSY, () -> s.close());
            s.cancel();
            worker.join();
            check(failure.get() == null, "the worker didn't fail: " + failure.get());
            Stats cancelled = result.get();
            System.out.println("cancelled after " + cancelled.promptTokens + " of " + prompt.length
                    + " prompt tokens");
            check(cancelled.reason == StopReason.CANCELLED && cancelled.generatedTokens == 0, "cancelled");
            check(cancelled.promptTokens < prompt.length, "during the prompt");
            check(s.length() == cancelled.promptTokens, "the context holds the part run");
        }
    }

    static void errors(Model m, String path) throws Exception {
        fails(Status.NOT_FOUND, () -> Model.load("/nonexistent/model.gguf"));
        java.nio.file.Path bad = Files.createTempFile("rewind", ".gguf");
        Files.write(bad, "not a model at all".getBytes());
        fails(Status.INVALID_MODEL, () -> Model.load(bad.toString()));
        Files.delete(bad);
        byte[] bytes = Files.readAllBytes(Paths.get(path));
        fails(Status.INVALID_MODEL, () -> Model.load(Arrays.copyOf(bytes, bytes.length / 2), null));
        fails(Status.INVALID_ARGUMENT, () -> Model.load((String) null));
        fails(Status.INVALID_ARGUMENT, () -> Model.load((byte[]) null, null));
        LoadOptions budget = options();
        budget.memoryBudget = 1000;
        fails(Status.OUT_OF_MEMORY, () -> Model.load(path, budget));
        try (Session s = new Session(m)) {
            fails(Status.INVALID_ARGUMENT, () -> m.tokenize(null, false));
            fails(Status.INVALID_ARGUMENT, () -> s.generate(new int[] {1, 1_000_000_000}, greedy(4), t -> {}));
            fails(Status.INVALID_ARGUMENT, () -> s.generate(new int[0], greedy(4), t -> {}));
            fails(Status.INVALID_ARGUMENT, () -> s.generate(List.of(new Message(null, "x")), greedy(4), t -> {}));
            fails(Status.INVALID_ARGUMENT, () -> s.truncate(1000));
            fails(Status.INVALID_ARGUMENT, () -> s.restoreState(null));
            GenerateOptions o = greedy(4);
            o.temperature = Float.NaN;
            fails(Status.INVALID_ARGUMENT, () -> s.generate(List.of(Message.user("Hi")), o, t -> {}));
            GenerateOptions p = greedy(4);
            p.policy = null;
            fails(Status.INVALID_ARGUMENT, () -> s.generate(List.of(Message.user("Hi")), p, t -> {}));
            GenerateOptions q = greedy(4);
            q.maxTokens = -1;
            fails(Status.INVALID_ARGUMENT, () -> s.generate(List.of(Message.user("Hi")), q, t -> {}));
            SessionOptions tiny = new SessionOptions();
            tiny.nCtx = 8;
            try (Session small = new Session(m, tiny)) {
                fails(Status.CONTEXT_FULL, () -> small.generate(List.of(Message.user("Hello!")), greedy(4), t -> {}));
            }
            // Still usable after all that.
            check(generate(s, List.of(Message.user("Hello!")), greedy(4)).visible.length() > 0, "still works");
        }
        Session closed = new Session(m);
        closed.close();
        closed.close();
        try {
            closed.length();
            check(false, "a closed session refuses calls");
        } catch (IllegalStateException e) {
            check(true, "closed");
        }
    }
}
