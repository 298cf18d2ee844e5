//! Printing: stdout that tolerates a closed pipe, JSON documents, and errors in the two forms
//! the commands use (plain text on stderr, or a `{"error", "kind"}` document with `--json`).

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

/// Writes `text` to stdout; a closed pipe (`| head`) ends the output quietly instead of
/// panicking like `println!`.
pub fn print_out(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A report as pretty JSON plus a newline.
pub fn print_json_pretty(v: &impl Serialize) -> anyhow::Result<()> {
    print_out(&(serde_json::to_string_pretty(v)? + "\n"))
}

/// A report as one line of JSON.
pub fn print_json_line(v: &impl Serialize) -> anyhow::Result<()> {
    print_out(&(serde_json::to_string(v)? + "\n"))
}

/// How a command shows a failure whose kind matters (RETURNN would raise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorDoc {
    /// `returnn-ckpt: error [kind]: message` on stderr.
    Text,
    /// `{"error": message, "kind": label}` pretty-printed on stdout.
    Pretty,
    /// The same on one line.
    Line,
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    error: &'a str,
    kind: &'a str,
}

/// Shows `e` with its kind as `doc` says; exit code 1.
pub fn fail_kind(e: &engine::Error, doc: ErrorDoc) -> anyhow::Result<ExitCode> {
    let j = ErrorJson {
        error: e.message(),
        kind: e.label(),
    };
    match doc {
        ErrorDoc::Text => eprintln!("returnn-ckpt: error [{}]: {}", e.label(), e.message()),
        ErrorDoc::Pretty => print_json_pretty(&j)?,
        ErrorDoc::Line => print_json_line(&j)?,
    }
    Ok(ExitCode::FAILURE)
}
