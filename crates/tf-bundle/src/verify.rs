//! `verify` on all cores: every check [`Checkpoint::verify_all`] makes, with the tensors' chunks
//! read and CRC-checked in parallel and the errors reported in the serial order.

use crate::error::{Error, Result};
use crate::par::{self, Jobs, Progress};
use crate::stream::{CrcCheck, Layout, Piece};
use crate::{Backend, Checkpoint, DType};

enum Unit {
    Chunk { t: usize, start: u64, len: usize },
    Whole { t: usize },
}

/// Checks everything that can be checked without returning data (see
/// [`Checkpoint::verify_all`], which is this with [`Jobs::serial`]): problems first, then each
/// listed tensor in order, then every V2 slice entry. Returns all errors found (empty = ok).
/// `progress` gets the payload bytes of each chunk or tensor as it completes (total:
/// [`crate::scan::total_bytes`]).
pub fn verify_all(ck: &Checkpoint, jobs: Jobs, progress: Progress) -> Vec<Error> {
    let mut errors: Vec<Error> = ck.problems().iter().map(|p| p.error.clone()).collect();
    // Opaque (variant) tensors: their checksums and structure, not their values.
    for o in ck.opaque() {
        if let Err(e) = ck.check_opaque(&o.name) {
            errors.push(e);
        }
    }
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
        match &l {
            Some(Ok(lay)) if !lay.is_empty() => {
                units.extend(
                    lay.chunks()
                        .map(|(start, len)| Unit::Chunk { t, start, len }),
                );
            }
            _ => units.push(Unit::Whole { t }),
        }
        layouts.push(l);
    }
    let mut cur: Option<(usize, CrcCheck, Option<Error>)> = None;
    let work = |buf: &mut Vec<u8>, i: usize| -> Result<Vec<Piece>> {
        match units[i] {
            Unit::Chunk { t, start, len } => match &layouts[t] {
                Some(Ok(l)) => {
                    buf.resize(len, 0);
                    l.read_chunk(start, &mut buf[..len])
                }
                _ => Ok(Vec::new()),
            },
            Unit::Whole { t } => {
                let name = &tensors[t].name;
                match &layouts[t] {
                    Some(Err(e)) => Err(e.clone()),
                    Some(Ok(l)) => l.for_each_chunk(buf, |_, _, _| Ok::<(), Error>(())),
                    None if tensors[t].dtype == DType::String => ck.read(name).map(|_| ()),
                    None => ck.read_raw_to(name, &mut std::io::sink()).map(|_| ()),
                }
                .map(|()| Vec::new())
            }
        }
    };
    let consume = |i: usize, r: Result<Vec<Piece>>| -> std::result::Result<(), ()> {
        match units[i] {
            Unit::Whole { t } => {
                progress(tensors[t].nbytes().unwrap_or(0));
                if let Err(e) = r {
                    errors.push(e);
                }
            }
            Unit::Chunk { t, len, .. } => {
                let Some(Ok(l)) = &layouts[t] else {
                    return Ok(());
                };
                let c = cur.get_or_insert_with(|| (t, l.crc_check(), None));
                match r {
                    Ok(pieces) if c.2.is_none() => {
                        if let Err(e) = c.1.add(l, &pieces) {
                            c.2 = Some(e);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        c.2.get_or_insert(e);
                    }
                }
                progress(len as u64);
                let more = matches!(units.get(i + 1), Some(Unit::Chunk { t: n, .. }) if *n == t);
                if !more {
                    if let Some((_, check, err)) = cur.take() {
                        if let Err(e) = err.map_or_else(|| check.finish(l), Err) {
                            errors.push(e);
                        }
                    }
                }
            }
        }
        Ok(())
    };
    let _ = par::ordered(units.len(), jobs, Vec::new, work, consume);
    if let Backend::V2(b) = &ck.backend {
        for e in b.raw_entries() {
            if e.key.first() == Some(&0) {
                if let Err(err) = b.check_raw_entry(e) {
                    errors.push(err);
                }
            }
        }
    }
    errors
}
