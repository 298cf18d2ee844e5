//! Progress of long jobs, reported in bytes so a face can show a rate and an ETA.
//!
//! The library never draws anything: a job calls [`Progress::begin`] once it knows how much it
//! will read, [`Progress::advance`] as it goes (from any thread) and [`Progress::end`] when done.

/// A progress observer (the CLI's bar, Python's callback, or [`NoProgress`]).
pub trait Progress: Sync {
    /// The job `what` starts; `total_bytes` is what it will read or write (0 if unknown).
    fn begin(&self, what: &str, total_bytes: u64) {
        let _ = (what, total_bytes);
    }
    /// `bytes` more are done.
    fn advance(&self, bytes: u64) {
        let _ = bytes;
    }
    /// The job is done (successfully or not).
    fn end(&self) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Adapts a [`Progress`] to `convert`'s per-tensor callback (bytes done so far).
pub(crate) struct ConvertProgress<'a> {
    progress: &'a dyn Progress,
    started: bool,
    last_bytes: u64,
    what: &'static str,
}

impl<'a> ConvertProgress<'a> {
    pub(crate) fn new(progress: &'a dyn Progress, what: &'static str) -> ConvertProgress<'a> {
        ConvertProgress {
            progress,
            started: false,
            last_bytes: 0,
            what,
        }
    }

    pub(crate) fn update(&mut self, p: &convert::Progress) {
        if !self.started {
            self.progress.begin(self.what, p.bytes_total);
            self.started = true;
        }
        if p.bytes_done > self.last_bytes {
            self.progress.advance(p.bytes_done - self.last_bytes);
            self.last_bytes = p.bytes_done;
        }
    }
}

impl Drop for ConvertProgress<'_> {
    fn drop(&mut self) {
        if self.started {
            self.progress.end();
        }
    }
}
