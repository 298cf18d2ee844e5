//! The progress bar: bytes, rate and ETA on stderr, only on a terminal, never with `--quiet`
//! or `--json` (the callers pass `quiet || json`),
//! and only once the work has run for about a second (`RETURNN_CKPT_PROGRESS_DELAY_MS`
//! changes that delay, for the pseudo-terminal test).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar that implements the library's [`engine::Progress`].
pub struct Bar {
    bar: ProgressBar,
    state: Mutex<(Instant, bool)>,
    enabled: bool,
    delay: Duration,
}

impl Bar {
    /// A hidden bar (shown later if the work is slow, stderr is a terminal and not `quiet`,
    /// which the commands also set for `--json`).
    pub fn new(quiet: bool) -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({binary_bytes_per_sec}, ETA {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        let delay = std::env::var("RETURNN_CKPT_PROGRESS_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_secs(1), Duration::from_millis);
        Bar {
            bar,
            state: Mutex::new((Instant::now(), false)),
            enabled: !quiet && std::io::stderr().is_terminal(),
            delay,
        }
    }

    fn maybe_show(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if !st.1 && self.enabled && st.0.elapsed() >= self.delay {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            // Drawn at once: otherwise the first draw waits for the next advance or tick, and a
            // short job ends before either.
            self.bar.tick();
            self.bar.enable_steady_tick(Duration::from_millis(250));
            st.1 = true;
        }
    }
}

impl engine::Progress for Bar {
    fn begin(&self, what: &str, total_bytes: u64) {
        self.bar.set_message(what.to_string());
        self.bar.set_length(total_bytes);
        self.bar.set_position(0);
    }
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
        self.maybe_show();
    }
    fn end(&self) {
        self.bar.finish_and_clear();
    }
}
