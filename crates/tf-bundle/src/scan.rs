//! Whole-checkpoint scans on all cores: the statistics and/or the digest of every listed
//! tensor, in the checkpoint's tensor order, identical to the serial path.
//!
//! Statistics alone run chunk by chunk ([`crate::stream`]'s fixed grid, so even one huge tensor
//! uses every core; the chunks' [`Stats`] are merged in order, see [`crate::elem`]); with the
//! digest (sha256 is sequential within a tensor) whole tensors run in parallel, each streamed
//! through one reused chunk buffer. Memory: `threads × (chunk + decode scratch)` plus the index,
//! except for tensors that must be assembled whole (V1 checkpoints, partitioned tensors whose
//! slices interleave) and string tensors, which are read one at a time per thread.

use sha2::{Digest, Sha256};

use crate::elem::{Stats, Summary};
use crate::error::Result;
use crate::par::{self, Jobs, Progress};
use crate::stream::{CrcCheck, Layout, Piece};
use crate::{Checkpoint, DType, TensorData};

/// What to compute per tensor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Want {
    /// min/max/mean/std/rms ([`crate::elem::Stats`]); `None` for non-real dtypes and empty
    /// tensors.
    pub stats: bool,
    /// The manifest digest ([`crate::digest`]).
    pub digest: bool,
}

/// The scan of one tensor.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scanned {
    /// With [`Want::stats`]: the statistics (`None` for non-real dtypes or no elements).
    pub stats: Option<Summary>,
    /// With [`Want::digest`]: the sha256.
    pub sha256: Option<[u8; 32]>,
}

/// Payload bytes a scan reads (the progress total): every listed tensor's size (strings: their
/// stored size where known).
pub fn total_bytes(ck: &Checkpoint) -> u64 {
    ck.tensors()
        .iter()
        .map(|t| t.nbytes().unwrap_or(0))
        .fold(0u64, u64::saturating_add)
}

enum Unit {
    /// A chunk of tensor `t` (stats only).
    Chunk { t: usize, start: u64, len: usize },
    /// A whole tensor.
    Whole { t: usize },
}

enum Done {
    Chunk(Result<(Vec<Piece>, Option<Stats>)>),
    Whole(Result<Scanned>),
}

struct Scratch {
    buf: Vec<u8>,
    vals: Vec<f64>,
}

/// Scans every listed tensor of `ck` (see the module docs): one result per
/// [`Checkpoint::tensors`] entry, in that order. Errors (CRC, truncation, ...) are per tensor.
pub fn scan_all(
    ck: &Checkpoint,
    want: Want,
    jobs: Jobs,
    progress: Progress,
) -> Vec<Result<Scanned>> {
    let tensors = ck.tensors();
    let mut layouts: Vec<Option<Result<Layout<'_>>>> = Vec::with_capacity(tensors.len());
    let mut units = Vec::new();
    for (t, info) in tensors.iter().enumerate() {
        let l = if info.dtype == DType::String {
            None
        } else {
            match ck.layout(&info.name) {
                Ok(Some(l)) => Some(Ok(l)),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            }
        };
        match (&l, want.digest) {
            (Some(Ok(lay)), false) => {
                if lay.is_empty() {
                    units.push(Unit::Chunk {
                        t,
                        start: 0,
                        len: 0,
                    });
                }
                units.extend(
                    lay.chunks()
                        .map(|(start, len)| Unit::Chunk { t, start, len }),
                );
            }
            _ => units.push(Unit::Whole { t }),
        }
        layouts.push(l);
    }
    let mut out: Vec<Result<Scanned>> = Vec::with_capacity(tensors.len());
    // the tensor being merged from its chunks
    let mut cur: Option<(usize, CrcCheck, Stats, Option<crate::Error>)> = None;
    let work = |s: &mut Scratch, i: usize| -> Done {
        match units[i] {
            Unit::Chunk { t, start, len } => {
                let Some(Ok(l)) = &layouts[t] else {
                    return Done::Chunk(Ok((Vec::new(), None)));
                };
                s.buf.resize(len, 0);
                Done::Chunk(l.read_chunk(start, &mut s.buf[..len]).map(|p| {
                    let st = want
                        .stats
                        .then(|| Stats::of_chunk(l.dtype(), &s.buf[..len], &mut s.vals))
                        .flatten();
                    (p, st)
                }))
            }
            Unit::Whole { t } => Done::Whole(whole(ck, t, layouts[t].as_ref(), want, s)),
        }
    };
    let consume = |i: usize, d: Done| -> std::result::Result<(), ()> {
        match (&units[i], d) {
            (Unit::Whole { t }, Done::Whole(r)) => {
                progress(tensors[*t].nbytes().unwrap_or(0));
                out.push(r);
            }
            (&Unit::Chunk { t, len, .. }, Done::Chunk(r)) => {
                let Some(Ok(l)) = &layouts[t] else {
                    return Ok(());
                };
                let c = cur.get_or_insert_with(|| (t, l.crc_check(), Stats::default(), None));
                match r {
                    Ok((pieces, st)) if c.3.is_none() => {
                        if let Err(e) = c.1.add(l, &pieces) {
                            c.3 = Some(e);
                        }
                        if let Some(st) = st {
                            c.2.merge(&st);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        c.3.get_or_insert(e);
                    }
                }
                progress(len as u64);
                let last = matches!(units.get(i + 1), Some(Unit::Chunk { t: n, .. }) if *n == t);
                if !last {
                    if let Some((_, check, stats, err)) = cur.take() {
                        out.push(match err.map_or_else(|| check.finish(l), Err) {
                            Ok(()) => Ok(Scanned {
                                stats: if want.stats { stats.summary() } else { None },
                                sha256: None,
                            }),
                            Err(e) => Err(e),
                        });
                    }
                }
            }
            _ => {}
        }
        Ok(())
    };
    let _ = par::ordered(
        units.len(),
        jobs,
        || Scratch {
            buf: Vec::new(),
            vals: Vec::new(),
        },
        work,
        consume,
    );
    out
}

/// One whole tensor: streamed through the scratch buffer when it has a layout, read whole
/// otherwise (strings, V1, interleaved slices).
fn whole(
    ck: &Checkpoint,
    t: usize,
    layout: Option<&Result<Layout<'_>>>,
    want: Want,
    s: &mut Scratch,
) -> Result<Scanned> {
    let info = &ck.tensors()[t];
    match layout {
        Some(Err(e)) => Err(e.clone()),
        Some(Ok(l)) => {
            let mut h = want.digest.then(Sha256::new);
            let mut stats = Stats::default();
            let real = crate::elem::is_real(l.dtype());
            let mut buf = std::mem::take(&mut s.buf);
            let r = l.for_each_chunk(&mut buf, |_, bytes, _| -> Result<()> {
                if let Some(h) = h.as_mut() {
                    h.update(bytes);
                }
                if want.stats && real {
                    if let Some(st) = Stats::of_chunk(l.dtype(), bytes, &mut s.vals) {
                        stats.merge(&st);
                    }
                }
                Ok(())
            });
            s.buf = buf;
            r?;
            Ok(Scanned {
                stats: if want.stats && real {
                    stats.summary()
                } else {
                    None
                },
                sha256: h.map(|h| h.finalize().into()),
            })
        }
        None => {
            let tensor = ck.read(&info.name)?;
            let stats = match (&tensor.data, want.stats) {
                (TensorData::Bytes(b), true) => {
                    Stats::of_bytes(tensor.dtype, b).and_then(|s| s.summary())
                }
                _ => None,
            };
            Ok(Scanned {
                stats,
                sha256: want.digest.then(|| crate::digest::digest(&tensor)),
            })
        }
    }
}

/// The statistics of every listed tensor, in [`crate::Checkpoint::tensors`] order, chunk by
/// chunk on `jobs.threads` cores (see [`crate::scan`]), bit-identical to [`crate::elem::Stats::of_bytes`] of
/// each tensor. `Ok(None)` for dtypes that are not real and for empty tensors; every tensor is
/// read (and CRC-checked) either way.
pub fn stats_all(
    ck: &crate::Checkpoint,
    jobs: crate::par::Jobs,
    progress: crate::par::Progress,
) -> Vec<Result<Option<crate::elem::Summary>, crate::Error>> {
    let want = Want {
        stats: true,
        digest: false,
    };
    scan_all(ck, want, jobs, progress)
        .into_iter()
        .map(|r| r.map(|s| s.stats))
        .collect()
}

/// The digest of every listed tensor, in [`crate::Checkpoint::tensors`] order, whole tensors in
/// parallel on `jobs.threads` cores (see [`crate::scan`]); identical to [`crate::digest::digest_tensor`] per
/// tensor.
pub fn digest_all(
    ck: &crate::Checkpoint,
    jobs: crate::par::Jobs,
    progress: crate::par::Progress,
) -> Vec<Result<[u8; 32], crate::Error>> {
    let want = Want {
        stats: false,
        digest: true,
    };
    scan_all(ck, want, jobs, progress)
        .into_iter()
        .map(|r| {
            r.and_then(|s| {
                s.sha256
                    .ok_or_else(|| crate::Error::corrupt(crate::Part::Data, "no digest"))
            })
        })
        .collect()
}
