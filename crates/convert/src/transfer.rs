//! Zero-copy transfers for conversions whose bytes pass through unchanged: the data is moved
//! file to file with `copy_file_range` ([`ckpt_io::copy_range`]) on the calling thread while
//! a second thread reads the same bytes through the page cache and checks their CRC32C
//! ([`tf_bundle::stream`]). The output is committed only after that check passed; on any error
//! the output is dropped (its temp file removed). Tensors that cannot pass through unchanged
//! (big-endian data, memory-mapped or in-memory sources, V1, interleaved slices) are streamed
//! through a buffer as before.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};

pub use ckpt_io::{CopyMode, CopyStats};
use tf_bundle::stream::Layout;

use crate::{Error, ErrorKind};

/// How conversions move bytes that pass through unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfer {
    /// [`CopyMode::Auto`] (default): `copy_file_range` where the kernel allows it;
    /// [`CopyMode::Buffered`]: always through a buffer (the fallback, forced).
    pub copy: CopyMode,
}

/// The `(file, offset, length)` runs of a tensor if its bytes can be copied file to file
/// unchanged: little-endian, every non-empty run in a file read with positioned reads, CRCs
/// checked by the reader.
pub(crate) fn pieces<'l>(l: &Layout<'l>) -> Option<Vec<(&'l File, u64, u64)>> {
    if l.swapped() || !l.verifies_crc() {
        return None;
    }
    l.segments()
        .iter()
        .filter(|s| s.len > 0)
        .map(|s| s.source().as_file().map(|f| (f, s.file_offset, s.len)))
        .collect()
}

/// Why the CRC thread ended early.
enum Halt {
    /// The other side failed.
    Stopped,
    /// A CRC (or read) error.
    Bad(tf_bundle::Error),
}

impl From<tf_bundle::Error> for Halt {
    fn from(e: tf_bundle::Error) -> Self {
        Halt::Bad(e)
    }
}

/// Runs `main` on the calling thread while another thread checks the CRCs of `layouts` in
/// order (reading them in chunks through the page cache). Either side stops early when the
/// other failed. Returns `main`'s result once both succeeded; the CRC error otherwise.
pub(crate) fn with_verifier<T>(
    layouts: &[&Layout<'_>],
    main: impl FnOnce(&AtomicBool) -> Result<T, Error>,
) -> Result<T, Error> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let verifier = scope.spawn(|| -> Result<(), Halt> {
            let mut buf = Vec::new();
            for l in layouts {
                l.for_each_chunk(&mut buf, |_, _, _| {
                    if stop.load(Ordering::Relaxed) {
                        return Err(Halt::Stopped);
                    }
                    Ok(())
                })
                .inspect_err(|_| stop.store(true, Ordering::Relaxed))?;
            }
            Ok(())
        });
        let r = main(&stop);
        if r.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let v = verifier
            .join()
            .map_err(|_| Error::new(ErrorKind::Usage("the CRC thread panicked".into())))?;
        match (r, v) {
            // a CRC failure wins over `main` stopping because of it
            (_, Err(Halt::Bad(e))) => Err(e.into()),
            (r, _) => r,
        }
    })
}

/// Checks `stop` between tensors of `main`: the verifier failed, so stop copying.
pub(crate) fn stopped(stop: &AtomicBool) -> Result<(), Error> {
    if stop.load(Ordering::Relaxed) {
        return Err(Error::new(ErrorKind::Usage(
            "stopped: the CRC check of an input failed".into(),
        )));
    }
    Ok(())
}
