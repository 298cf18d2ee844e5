//! The output contract of every command (README "Output contract"): with `--json`, exactly one
//! JSON document on stdout — the report, or `{"error": {"kind", "message", "path", "key",
//! "hint"}}` — pretty-printed the same way everywhere; without it, the report as text on
//! stdout and notes and errors on stderr (`error[kind]: message`, then `hint: ...`; coloured
//! like clap's on a terminal, plain with `NO_COLOR` or when piped). Exit codes: 0 done, 1 the
//! answer is negative (differs, problems found, RETURNN would raise), 2 the tool could not
//! answer (usage, unreadable input, I/O).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

/// Exit code 1: the answer is negative.
pub const NEGATIVE: u8 = 1;
/// Exit code 2: the tool could not answer.
pub const FAILED: u8 = 2;

/// A command that failed, and how to show it.
pub struct Fail {
    pub error: engine::Error,
    pub json: bool,
}

/// `map_err(fail(json))`: a library error shown as the command shows errors.
pub fn fail(json: bool) -> impl Fn(engine::Error) -> Fail {
    move |error| Fail { error, json }
}

/// A usage error of our own (exit code 2, like clap's).
pub fn usage(json: bool, message: impl Into<String>) -> Fail {
    Fail {
        error: engine::Error::new(engine::ErrorKind::Usage, message),
        json,
    }
}

/// Writes `text` to stdout; a closed pipe (`| head`) ends the output quietly.
pub fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Set once the command's JSON document is on stdout (under the stdout lock), so that an
/// interrupt arriving later does not print a second one.
static DOCUMENT_PRINTED: AtomicBool = AtomicBool::new(false);

/// A report as the one JSON document of the command.
pub fn print_json(v: &impl Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            let mut out = std::io::stdout().lock();
            let _ = out
                .write_all((s + "\n").as_bytes())
                .and_then(|()| out.flush());
            DOCUMENT_PRINTED.store(true, Ordering::SeqCst);
        }
        Err(e) => eprintln!("error: cannot serialise the report: {e}"),
    }
}

/// Shows the error of an interrupt (from the signal thread): the JSON error document unless
/// the command's document is out already, or `error[interrupted]: ...` on stderr (on a
/// terminal, after clearing the progress bar's line).
pub fn report_interrupt(e: &engine::Error, json: bool) {
    if json {
        // The stdout lock is reentrant: held across the check and the print.
        let _out = std::io::stdout().lock();
        if !DOCUMENT_PRINTED.load(Ordering::SeqCst) {
            print_error(e, true);
        }
        return;
    }
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
    print_error(e, false);
}

/// Whether stderr gets colours (a terminal, `NO_COLOR` unset, `TERM` not `dumb`).
pub fn stderr_colors() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

fn paint(on: bool, code: &str, text: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Notes for people (stderr, only without `--json`, where they are part of the document):
/// `note: ...`, or `warning: ...` for a note that is RETURNN's warning.
pub fn print_notes(notes: &[String], json: bool) {
    if json {
        return;
    }
    let c = stderr_colors();
    for n in notes {
        if let Some(w) = n.strip_prefix("warning: ") {
            eprintln!("{} {w}", paint(c, "1;33", "warning:"));
        } else {
            let n = n.strip_prefix("note: ").unwrap_or(n);
            eprintln!("{} {n}", paint(c, "1;36", "note:"));
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: &'a str,
    message: &'a str,
    path: Option<String>,
    key: Option<&'a str>,
    hint: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    error: ErrorBody<'a>,
}

/// The exit code of an error: 1 where RETURNN would raise, 2 where we could not answer.
pub fn exit_code(e: &engine::Error) -> u8 {
    match e.outcome() {
        engine::Outcome::Negative => NEGATIVE,
        engine::Outcome::Failed => FAILED,
    }
}

/// Shows a failure and returns its exit code.
pub fn report(f: &Fail) -> ExitCode {
    print_error(&f.error, f.json);
    ExitCode::from(exit_code(&f.error))
}

fn print_error(e: &engine::Error, json: bool) {
    if json {
        print_json(&ErrorDoc {
            error: ErrorBody {
                kind: e.label(),
                message: e.message(),
                path: e.path().map(|p| p.display().to_string()),
                key: e.key(),
                hint: e.hint(),
            },
        });
    } else {
        let c = stderr_colors();
        eprintln!(
            "{} {}",
            paint(c, "1;31", &format!("error[{}]:", e.label())),
            e.message()
        );
        if let Some(h) = e.hint() {
            eprintln!("  {} {h}", paint(c, "1;32", "hint:"));
        }
    }
}

/// `n thing` / `n things`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
