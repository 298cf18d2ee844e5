//! What the CLI draws only on a terminal (issue 17), run under a pseudo-terminal made by
//! `script` (util-linux, on every Linux CI machine; no pty crate needed for a few runs):
//!
//! * the byte progress bar (`{what} [bar] done/total (rate, ETA ..)` on stderr) shows on a
//!   terminal, and never with `--json`, with `--quiet`, or when stderr is a pipe;
//!   `RETURNN_CKPT_PROGRESS_DELAY_MS=0` makes it draw at once instead of after a second, so a
//!   small fixture is enough;
//! * errors, hints and notes are coloured on a terminal, plain with `NO_COLOR`, with
//!   `TERM=dumb`, or when piped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_returnn-ckpt"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn checkpoint() -> String {
    fixtures()
        .join("returnn_train_nativelstm/net-model/network.003")
        .display()
        .to_string()
}

/// Single-quoted for `sh -c`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs the binary with `args` in `cwd` under a pseudo-terminal: stdout and stderr both go to
/// the terminal, whose bytes are the returned text (`\r\n` line ends).
fn on_terminal(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String) {
    let line = std::iter::once(bin().display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| quote(&a))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env("RETURNN_CKPT_PROGRESS_DELAY_MS", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("script (util-linux) runs");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

fn piped(cwd: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env("RETURNN_CKPT_PROGRESS_DELAY_MS", "0")
        .output()
        .unwrap()
}

/// Whether `text` holds a drawn progress bar of the job `what`: its message, the bar, the
/// byte counts, rate and ETA.
fn has_bar(text: &str, what: &str) -> bool {
    text.lines().any(|l| {
        l.contains(&format!("{what} ["))
            && l.contains("B/")
            && l.contains("/s, ETA ")
            && l.contains(']')
    })
}

#[test]
fn the_progress_bar_shows_only_on_a_terminal() {
    let ck = checkpoint();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // (job name on the bar, arguments without --json); each writes into its own output.
    let jobs: Vec<(&str, Vec<String>)> = vec![
        ("verify", vec!["verify".into(), ck.clone()]),
        (
            "convert",
            vec!["convert".into(), ck.clone(), "out.safetensors".into()],
        ),
        (
            "convert",
            vec![
                "convert".into(),
                ck.clone(),
                "--to".into(),
                "tf".into(),
                "bundle".into(),
            ],
        ),
    ];
    for (i, (what, args)) in jobs.iter().enumerate() {
        let mut args: Vec<String> = args.clone();
        if args[0] == "convert" {
            args.push("--force".into());
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();

        let (code, text) = on_terminal(cwd, &[], &a);
        assert_eq!(code, Some(0), "{i} {a:?}: {text}");
        assert!(
            has_bar(&text, what),
            "no bar on a terminal: {a:?}: {text:?}"
        );
        // The bar is erased (`ESC [2K`) before the result is printed.
        let (_, after) = text.rsplit_once("\x1b[2K").expect("the bar is erased");
        assert!(
            !has_bar(after, what),
            "{a:?}: the bar is not cleared: {text:?}"
        );
        assert!(
            after.contains("ok (8 tensors") || after.contains("wrote "),
            "{a:?}: {text:?}"
        );

        let mut json = a.clone();
        json.push("--json");
        let (code, text) = on_terminal(cwd, &[], &json);
        assert_eq!(code, Some(0), "{json:?}: {text}");
        assert!(
            !has_bar(&text, what) && !text.contains("ETA"),
            "{json:?}: {text:?}"
        );
        // Nothing but the one JSON document reaches the terminal.
        let doc: serde_json::Value = serde_json::from_str(&text.replace("\r\n", "\n")).unwrap();
        assert!(doc.is_object(), "{json:?}: {text}");

        let mut quiet = vec!["--quiet"];
        quiet.extend(&a);
        let (code, text) = on_terminal(cwd, &[], &quiet);
        assert_eq!(code, Some(0), "{quiet:?}: {text}");
        assert!(!text.contains("ETA"), "{quiet:?}: {text:?}");

        let o = piped(cwd, &a);
        assert_eq!(o.status.code(), Some(0), "{a:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !err.contains("ETA") && !err.contains('\x1b'),
            "piped {a:?}: {err:?}"
        );
    }
}

#[test]
fn errors_are_coloured_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    // Long enough to be read as a table (48 bytes at least), so the error is `corrupt`.
    std::fs::write(
        cwd.join("notes.txt"),
        "just text, no checkpoint\n".repeat(4),
    )
    .unwrap();
    let args = ["inspect", "notes.txt"];
    let red = "\x1b[1;31merror[corrupt]:\x1b[0m";
    let green = "\x1b[1;32mhint:\x1b[0m notes.txt is a text file";

    let (code, text) = on_terminal(cwd, &[], &args);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains(red) && text.contains(green), "{text:?}");

    for env in [[("NO_COLOR", "1")], [("TERM", "dumb")]] {
        let (code, text) = on_terminal(cwd, &env, &args);
        assert_eq!(code, Some(2), "{env:?}: {text}");
        assert!(!text.contains('\x1b'), "{env:?}: {text:?}");
        assert!(
            text.contains("error[corrupt]: notes.txt")
                && text.contains("hint: notes.txt is a text file"),
            "{env:?}: {text:?}"
        );
    }

    let o = piped(cwd, &args);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains('\x1b') && err.starts_with("error[corrupt]: notes.txt"),
        "{err:?}"
    );
}
