//! The chat example as a user runs it: a synthetic model with `[RESET]` in
//! its vocabulary, a forced reset, and readable one-line errors.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rewind::model::synth::{SynthSpec, synth_llama};
use rewind::quant::GgmlType;

/// The chat example's binary, which `cargo test` builds with every target
/// (a filtered `cargo test --test cli` does not: build the examples first).
fn chat_bin() -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let bin = deps
        .parent()
        .unwrap()
        .join("examples")
        .join(format!("chat{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not built (cargo test builds examples)",
        bin.display()
    );
    bin
}

fn model_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rewind-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    synth_llama(&SynthSpec::tiny(GgmlType::Q4_0, 9))
        .unwrap()
        .write_file(&path)
        .unwrap();
    path
}

fn chat(args: &[&str]) -> Output {
    Command::new(chat_bin())
        .args(args)
        .env("NODEVICE_SELECT", "1")
        .output()
        .unwrap()
}

#[test]
fn a_forced_reset_is_shown_and_counted() {
    let model = model_file("reset.gguf");
    let out = chat(&[
        "-m",
        model.to_str().unwrap(),
        "-p",
        "hi",
        "--temp",
        "0",
        "-n",
        "6",
        "--prefill",
        "Sure! The code is",
        "--reset-bias",
        "10000",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("Sure! The code is"), "{stdout}");
    assert!(
        stdout.contains("[reset: the text above was discarded]"),
        "{stdout}"
    );
    assert!(stderr.contains("1 reset(s)"), "{stderr}");
}

#[test]
fn errors_are_one_readable_line() {
    let missing = chat(&["-m", "/nonexistent/model.gguf", "-p", "hi"]);
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.starts_with("error: model file /nonexistent/model.gguf not found"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    let model = model_file("bad-token.gguf");
    let bad = chat(&[
        "-m",
        model.to_str().unwrap(),
        "-p",
        "hi",
        "--reset-token",
        "[NOPE]",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with("error: reset token `[NOPE]`"),
        "{err}"
    );

    let garbage = model_file("garbage.gguf");
    std::fs::write(&garbage, b"GGUF\x03\x00\x00\x00truncated").unwrap();
    let trunc = chat(&["-m", garbage.to_str().unwrap(), "-p", "hi"]);
    assert_eq!(trunc.status.code(), Some(1));
    let err = String::from_utf8_lossy(&trunc.stderr);
    assert!(
        err.starts_with(&format!("error: {}: ", garbage.display())),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // The cause is said once, not once per layer that wraps it.
    let cause = err.trim_end().rsplit(": ").next().unwrap();
    assert_eq!(err.matches(cause).count(), 1, "{err}");

    let dir = garbage.parent().unwrap();
    let out = chat(&["-m", dir.to_str().unwrap(), "-p", "hi"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!("error: {} is a directory, not a GGUF file", dir.display())
    );
}

/// Text a child process wrote so far, collected by a thread.
fn collect(mut from: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

/// Waits (up to two minutes) until `text` has `what` at least `count` times.
fn wait_for(text: &Mutex<String>, what: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while text.lock().unwrap().matches(what).count() < count {
        assert!(
            Instant::now() < deadline,
            "no {what:?} x{count} in {:?}",
            text.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupt(child: &std::process::Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT");
}

#[test]
fn ctrl_c_stops_the_answer_and_keeps_the_conversation() {
    let model = model_file("interrupt.gguf");
    let mut child = Command::new(chat_bin())
        .args(["-m", model.to_str().unwrap(), "--temp", "0"])
        .args(["-n", "1000000", "--ignore-eos", "--reset-token", "off"])
        // Room for what is generated before the interrupt lands: the tiny
        // model decodes 10,000+ tokens/s on the CPU path, and turn 2 needs
        // turn 1's answer in context.
        .args(["-c", "65536"])
        .env("NODEVICE_SELECT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    for turn in 1..=2 {
        writeln!(stdin, "turn {turn}").unwrap();
        // Once the answer is streaming, Ctrl-C stops it; the chat goes on.
        let shown = stdout.lock().unwrap().len();
        let deadline = Instant::now() + Duration::from_secs(120);
        while stdout.lock().unwrap().len() < shown + 20 {
            assert!(Instant::now() < deadline, "no answer to turn {turn}");
            std::thread::sleep(Duration::from_millis(20));
        }
        interrupt(&child);
        wait_for(&stdout, "[stopped]", turn);
        wait_for(&stderr, "generation:", turn);
    }
    // Ctrl-C at the prompt quits cleanly.
    wait_for(&stderr, "> ", 3);
    interrupt(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}: {}", stderr.lock().unwrap());
}
