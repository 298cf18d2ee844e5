//! The progress bar: bytes, rate and ETA on stderr, only on a terminal, and only once the work
//! has run for about a second.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar that implements the library's [`engine::Progress`].
pub struct Bar {
    bar: ProgressBar,
    state: Mutex<(Instant, bool)>,
    tty: bool,
}

impl Bar {
    /// A hidden bar (shown later if the work is slow and stderr is a terminal).
    pub fn new() -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({binary_bytes_per_sec}, ETA {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Bar {
            bar,
            state: Mutex::new((Instant::now(), false)),
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn maybe_show(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if !st.1 && self.tty && st.0.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
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
