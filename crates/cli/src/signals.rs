//! Interrupts: SIGINT, SIGTERM and SIGHUP end the process only after its unfinished outputs
//! are removed (`engine::output::abandon_outputs`: the atomic writers' temp files, a bundle's
//! data file without its index), with the exit code of a process killed by the signal
//! (128 + N: 130, 143, 129) and the error shown once, as every error is (`error[interrupted]`
//! on stderr, or the JSON error document). The handler is a normal thread fed by `signal-hook`,
//! so nothing runs in signal context.
//!
//! SIGXFSZ (a file size limit, `ulimit -f`) is caught and ignored, so that a write over the
//! limit fails with EFBIG and is reported like a full disk, instead of the default action
//! killing the process with its temp file left behind.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
use signal_hook::iterator::Signals;

use crate::out;

/// Starts the signal thread; `json`: the command prints its error as the JSON document.
pub fn install(json: bool) {
    let _ = signal_hook::flag::register(SIGXFSZ, Arc::new(AtomicBool::new(false)));
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("signals".to_string())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                interrupted(sig, json);
            }
        });
}

fn interrupted(sig: i32, json: bool) -> ! {
    let removed = engine::output::abandon_outputs();
    let name = match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    };
    let what = match removed.as_slice() {
        [] => String::new(),
        files => {
            let shown: Vec<String> = files
                .iter()
                .take(3)
                .map(|p| p.display().to_string())
                .collect();
            let more = if files.len() > 3 {
                format!(" and {} more", files.len() - 3)
            } else {
                String::new()
            };
            format!(
                "; removed the unfinished output {} ({}{more})",
                if files.len() == 1 { "file" } else { "files" },
                shown.join(", ")
            )
        }
    };
    let e = engine::Error::new(
        engine::ErrorKind::Interrupted,
        format!("interrupted by {name}{what}"),
    );
    out::report_interrupt(&e, json);
    std::process::exit(128 + sig)
}
