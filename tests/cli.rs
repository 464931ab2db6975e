//! The chat example as a user runs it: a synthetic model with `[RESET]` in
//! its vocabulary, a forced reset, and readable one-line errors.

use std::path::PathBuf;
use std::process::{Command, Output};

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
}
