//! Chunked reads of numeric tensors into caller-provided, reused buffers.
//!
//! A [`Layout`] ([`crate::Checkpoint::layout`]) says where a tensor's little-endian bytes lie,
//! in output (C) order: one [`Segment`] for an unsliced tensor, one per slice for a partitioned
//! tensor whose slices are contiguous runs of it (TF's usual split along the first axis), so
//! such a tensor is streamed in order without ever being assembled. The bytes are cut into
//! chunks on a fixed grid ([`CHUNK`] bytes at offsets `0, CHUNK, 2·CHUNK, …`; a multiple of every
//! element size, so chunks hold whole elements), independent of threads and of the slicing.
//!
//! # The CRC contract
//!
//! A stored entry's CRC32C covers all of its bytes, so a chunk handed out before the last one
//! of its entry has *not* been checked yet. Therefore:
//!
//! * [`Layout::for_each_chunk`] (serial) checks each segment's CRC when its last byte is read,
//!   before that chunk is handed out; the chunk flagged `last` is handed out only after every
//!   segment of the tensor passed. **A caller must not commit anything derived from the chunks
//!   (rename an output, report a value as good) before it has received the `last` chunk or the
//!   function returned `Ok`.** On a CRC mismatch the function returns the error and hands out
//!   no further chunk.
//! * [`Layout::read_chunk`] (any order, any thread) returns the CRC of each piece it read; a
//!   [`CrcCheck`] fed with the pieces of all chunks *in chunk order* checks every segment the
//!   moment it is complete. The same rule applies: nothing is committed before
//!   [`CrcCheck::finish`] returned `Ok`.
//!
//! With [`crate::OpenOptions::verify_crc`] off, no CRC is checked (the pieces are still
//! reported).

use std::path::{Path, PathBuf};

use crate::crc;
use crate::dtype::swap_in_place;
use crate::error::{Error, ErrorKind, Part, Result};
use crate::io::ReadAt;
use crate::DType;

/// Bytes per chunk of the fixed chunk grid (the same as [`crate::elem::STATS_CHUNK`]).
pub const CHUNK: usize = crate::elem::STATS_CHUNK;

/// One stored run of a tensor's bytes.
#[derive(Clone)]
pub struct Segment<'a> {
    pub(crate) src: &'a dyn ReadAt,
    /// The data file (for errors).
    pub path: PathBuf,
    /// Where the bytes start in the data file.
    pub file_offset: u64,
    /// Where they go in the tensor's output bytes.
    pub out_offset: u64,
    /// How many bytes.
    pub len: u64,
    /// The stored CRC32C (unmasked) of these bytes.
    pub crc: u32,
}

impl std::fmt::Debug for Segment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("file_offset", &self.file_offset)
            .field("out_offset", &self.out_offset)
            .field("len", &self.len)
            .finish()
    }
}

impl<'a> Segment<'a> {
    /// The source the bytes are read from (e.g. for a zero-copy transfer from its file).
    pub fn source(&self) -> &'a dyn ReadAt {
        self.src
    }
}

/// The CRC of one piece of a segment read by [`Layout::read_chunk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Index of the segment.
    pub segment: usize,
    /// Bytes of it read.
    pub len: u64,
    /// CRC32C of those bytes as stored (before any byte swap).
    pub crc: u32,
}

/// Where a numeric tensor's bytes lie (see the module docs).
#[derive(Clone, Debug)]
pub struct Layout<'a> {
    name: String,
    dtype: DType,
    len: u64,
    swap: usize,
    verify: bool,
    segments: Vec<Segment<'a>>,
}

impl<'a> Layout<'a> {
    /// Checks that `segments` (sorted by `out_offset`) tile `0..len` exactly.
    pub(crate) fn new(
        name: String,
        dtype: DType,
        len: u64,
        swap: usize,
        verify: bool,
        segments: Vec<Segment<'a>>,
    ) -> Result<Layout<'a>> {
        let mut at = 0u64;
        for s in &segments {
            if s.out_offset != at {
                return Err(Error::corrupt(
                    Part::Data,
                    format!(
                        "slices do not tile the tensor: a slice starts at byte {}, expected {at}",
                        s.out_offset
                    ),
                ));
            }
            at = at
                .checked_add(s.len)
                .ok_or_else(|| Error::corrupt(Part::Data, "slice sizes overflow"))?;
        }
        if at != len {
            return Err(Error::corrupt(
                Part::Data,
                format!("slices hold {at} bytes, the tensor has {len}"),
            ));
        }
        Ok(Layout {
            name,
            dtype,
            len,
            swap,
            verify,
            segments,
        })
    }

    /// The tensor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Total bytes (little-endian, C order).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for a tensor without elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The stored runs, in output order.
    pub fn segments(&self) -> &[Segment<'a>] {
        &self.segments
    }

    /// True when the bytes are stored big-endian (reads swap them, so they cannot pass through
    /// unchanged).
    pub fn swapped(&self) -> bool {
        self.swap > 1
    }

    /// True when reads check the CRCs ([`crate::OpenOptions::verify_crc`]).
    pub fn verifies_crc(&self) -> bool {
        self.verify
    }

    /// The CRC32C of the whole tensor's stored bytes as the index claims it (combined from the
    /// segments' stored CRCs); what an output entry holding exactly these bytes must store.
    pub fn stored_crc(&self) -> u32 {
        self.segments
            .iter()
            .fold(0u32, |acc, s| crc::combine(acc, s.crc, s.len))
    }

    /// The chunk grid: `(offset, length)` of every chunk, in order.
    pub fn chunks(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        let step = CHUNK as u64;
        (0..self.len.div_ceil(step)).map(move |k| {
            let start = k * step;
            (start, (self.len - start).min(step) as usize)
        })
    }

    /// Number of chunks.
    pub fn num_chunks(&self) -> usize {
        usize::try_from(self.len.div_ceil(CHUNK as u64)).unwrap_or(usize::MAX)
    }

    fn err(&self, e: Error, path: &Path) -> Error {
        e.with_path(path).with_key(self.name.clone())
    }

    /// Reads the output bytes `start..start + buf.len()` into `buf` (little-endian), returning
    /// the CRC of each piece read, in order. CRCs are *not* checked here (see [`CrcCheck`]).
    pub fn read_chunk(&self, start: u64, buf: &mut [u8]) -> Result<Vec<Piece>> {
        let end = start
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| {
                Error::new(ErrorKind::InvalidArgument(format!(
                    "bytes {start}..+{} requested of a {}-byte tensor",
                    buf.len(),
                    self.len
                )))
                .with_key(self.name.clone())
            })?;
        let mut pieces = Vec::new();
        // the first segment ending after `start`
        let first = self
            .segments
            .partition_point(|s| s.out_offset + s.len <= start);
        let mut at = start;
        for (i, s) in self.segments.iter().enumerate().skip(first) {
            if at >= end {
                break;
            }
            if s.len == 0 {
                continue;
            }
            let off = at - s.out_offset;
            let n = (s.len - off).min(end - at);
            let dst = &mut buf[(at - start) as usize..(at - start + n) as usize];
            s.src
                .read_exact_at(s.file_offset + off, dst)
                .map_err(|e| self.err(Error::io("read", &e), &s.path))?;
            pieces.push(Piece {
                segment: i,
                len: n,
                crc: crc::crc32c(dst),
            });
            if self.swap > 1 {
                swap_in_place(dst, self.swap);
            }
            at += n;
        }
        Ok(pieces)
    }

    /// A fresh checker for this tensor's CRCs.
    pub fn crc_check(&self) -> CrcCheck {
        CrcCheck {
            state: vec![(0, 0); self.segments.len()],
        }
    }

    /// Streams the tensor chunk by chunk through `buf` (resized to at most [`CHUNK`] bytes and
    /// reused): `f(offset, bytes, last)`. See the module docs for the CRC contract: `last` is
    /// true only for the final chunk, handed out after every CRC passed. An empty tensor calls
    /// `f` once with no bytes and `last` true.
    pub fn for_each_chunk<E: From<Error>>(
        &self,
        buf: &mut Vec<u8>,
        mut f: impl FnMut(u64, &[u8], bool) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut check = self.crc_check();
        let n = self.num_chunks();
        if n == 0 {
            check.finish(self)?;
            return f(0, &[], true);
        }
        for (k, (start, len)) in self.chunks().enumerate() {
            buf.resize(len, 0);
            let pieces = self.read_chunk(start, &mut buf[..len])?;
            check.add(self, &pieces)?;
            let last = k + 1 == n;
            if last {
                check.finish(self)?;
            }
            f(start, &buf[..len], last)?;
        }
        Ok(())
    }
}

/// Checks a tensor's segment CRCs from the pieces of its chunks, fed in chunk order.
#[derive(Clone, Debug)]
pub struct CrcCheck {
    /// Per segment: CRC so far, bytes so far.
    state: Vec<(u32, u64)>,
}

impl CrcCheck {
    /// Adds the pieces of the next chunk; checks every segment they complete.
    pub fn add(&mut self, layout: &Layout<'_>, pieces: &[Piece]) -> Result<()> {
        for p in pieces {
            let (Some(st), Some(seg)) = (
                self.state.get_mut(p.segment),
                layout.segments.get(p.segment),
            ) else {
                return Err(Error::new(ErrorKind::InvalidArgument(
                    "a piece of another tensor".into(),
                ))
                .with_key(layout.name.clone()));
            };
            st.0 = crc::combine(st.0, p.crc, p.len);
            st.1 += p.len;
            if st.1 > seg.len {
                return Err(Error::new(ErrorKind::InvalidArgument(
                    "pieces fed twice or out of order".into(),
                ))
                .with_key(layout.name.clone()));
            }
            if st.1 == seg.len && layout.verify && st.0 != seg.crc {
                return Err(layout.err(
                    Error::new(ErrorKind::Checksum {
                        what: "tensor data".into(),
                        stored: seg.crc,
                        computed: st.0,
                    }),
                    &seg.path,
                ));
            }
        }
        Ok(())
    }

    /// Checks that every segment was read completely (and so passed its CRC).
    pub fn finish(&self, layout: &Layout<'_>) -> Result<()> {
        for (st, seg) in self.state.iter().zip(&layout.segments) {
            if st.1 != seg.len {
                return Err(layout.err(
                    Error::new(ErrorKind::InvalidArgument(format!(
                        "only {} of {} bytes were checked",
                        st.1, seg.len
                    ))),
                    &seg.path,
                ));
            }
        }
        Ok(())
    }

    /// The CRC32C of everything fed so far, as one run (equals [`Layout::stored_crc`] once
    /// complete and correct).
    pub fn combined(&self) -> u32 {
        self.state
            .iter()
            .fold(0u32, |acc, &(c, n)| crc::combine(acc, c, n))
    }
}
