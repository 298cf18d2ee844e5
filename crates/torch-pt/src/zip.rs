//! The ZIP subset of `.pt` files (docs/pt-format.md §2): a strict central-directory reader over
//! [`ReadAt`] and a streaming writer of STORED entries with 64-byte aligned payloads.
//!
//! Written here rather than with the `zip` crate (see the crate docs for the comparison): the
//! reader works on a shared positioned source without a cursor, checks every rule below, gives
//! the exact payload offset of each entry (zero-copy reads from a memory map), and streams the
//! CRC-32; the writer pads local headers with torch's extra field `0x4246` and patches the CRC
//! after streaming an entry whose size is known in advance.

use std::collections::HashMap;
use std::io::{self, Seek, SeekFrom, Write};

use ckpt_io::ReadAt;

use crate::error::{err, Error, ErrorKind, Result};

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const EOCD_LEN: u64 = 22;
const ZIP64_LOCATOR_LEN: u64 = 20;
const ZIP64_EOCD_LEN: u64 = 56;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: u64 = 30;
/// Extra field id torch's writer (miniz, `PyTorchStreamWriter`) pads local headers with.
pub const TORCH_PAD_EXTRA: u16 = 0x4246;
const ZIP64_EXTRA: u16 = 0x0001;
/// Alignment of every payload our writer produces (torch's default `storage_alignment`).
pub const ALIGNMENT: u64 = 64;
/// Chunk size of streamed reads.
pub(crate) const CHUNK: usize = 1 << 20;

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn read_at(src: &dyn ReadAt, offset: u64, len: usize, what: &str) -> Result<Vec<u8>> {
    ckpt_io::read_vec(src, offset, len as u64).map_err(|e| match e {
        ckpt_io::ReadVecError::Io(io) => Error::io(format!("reading {what}"), io),
        other => err(
            ErrorKind::Truncated,
            format!("{what}: {other} (the file is shorter than its ZIP structure says)"),
        ),
    })
}

/// One entry of the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZipEntry {
    /// Full name inside the archive (`<root>/data/0`).
    pub name: String,
    /// Offset of the local header.
    pub header_offset: u64,
    /// Offset of the first payload byte.
    pub data_offset: u64,
    /// Payload size (stored: compressed = uncompressed).
    pub size: u64,
    /// CRC-32 of the payload from the central directory.
    pub crc32: u32,
    /// Offset of the entry's central-directory header.
    pub central_offset: u64,
}

/// The parsed central directory of a `.pt` archive.
#[derive(Clone, Debug)]
pub struct ZipArchive {
    entries: Vec<ZipEntry>,
    by_name: HashMap<String, usize>,
    root: String,
    zip64: bool,
}

fn bad(msg: impl Into<String>) -> Error {
    err(ErrorKind::BadZip, msg)
}

/// Values of a ZIP64 extended-information extra field, read for the fields that are saturated.
fn zip64_fields(
    extra: &[u8],
    want_usize: bool,
    want_csize: bool,
    want_offset: bool,
    what: &str,
) -> Result<(Option<u64>, Option<u64>, Option<u64>)> {
    let mut at = 0usize;
    while at + 4 <= extra.len() {
        let id = le16(extra, at);
        let len = le16(extra, at + 2) as usize;
        let body = extra.get(at + 4..at + 4 + len).ok_or_else(|| {
            bad(format!(
                "{what}: extra field 0x{id:04x} runs past its header"
            ))
        })?;
        if id == ZIP64_EXTRA {
            let mut p = 0usize;
            let mut take = |want: bool| -> Result<Option<u64>> {
                if !want {
                    return Ok(None);
                }
                if p + 8 > body.len() {
                    return Err(bad(format!(
                        "{what}: ZIP64 extra field has {} bytes, too short for the saturated sizes/offset",
                        body.len()
                    )));
                }
                let v = le64(body, p);
                p += 8;
                Ok(Some(v))
            };
            let u = take(want_usize)?;
            let c = take(want_csize)?;
            let o = take(want_offset)?;
            return Ok((u, c, o));
        }
        at += 4 + len;
    }
    if want_usize || want_csize || want_offset {
        return Err(bad(format!(
            "{what}: sizes or offset are 0xFFFFFFFF but there is no ZIP64 extra field"
        )));
    }
    Ok((None, None, None))
}

impl ZipArchive {
    /// Parses the central directory of `src` and every entry's local header, checking the rules
    /// of docs/pt-format.md §2. Reads at most 64 KiB + the central directory + 30 bytes plus a
    /// name and extra field per entry.
    pub fn parse(src: &dyn ReadAt) -> Result<ZipArchive> {
        let size = src.size();
        if size < EOCD_LEN {
            return Err(Self::not_zip(src, size));
        }
        let tail_len = size.min(EOCD_LEN + 0xFFFF);
        let tail_start = size - tail_len;
        let tail = read_at(src, tail_start, tail_len as usize, "the end of the archive")?;
        // The end-of-central-directory record: the last signature whose comment ends at EOF.
        let mut eocd_at = None;
        let mut i = tail.len() - EOCD_LEN as usize;
        loop {
            if le32(&tail, i) == EOCD_SIG {
                let comment = le16(&tail, i + 20) as usize;
                if i + EOCD_LEN as usize + comment == tail.len() {
                    eocd_at = Some(i);
                    break;
                }
            }
            if i == 0 {
                break;
            }
            i -= 1;
        }
        let Some(e) = eocd_at else {
            return Err(Self::not_zip(src, size));
        };
        let eocd_pos = tail_start + e as u64;
        let disk = le16(&tail, e + 4);
        let cd_disk = le16(&tail, e + 6);
        let n_disk = le16(&tail, e + 8);
        let n_total = le16(&tail, e + 10);
        let cd_size32 = le32(&tail, e + 12);
        let cd_off32 = le32(&tail, e + 16);
        let saturated =
            n_disk == 0xFFFF || n_total == 0xFFFF || cd_size32 == u32::MAX || cd_off32 == u32::MAX;
        let (n, cd_size, cd_offset, cd_limit, zip64) = if saturated {
            if eocd_pos < ZIP64_LOCATOR_LEN {
                return Err(bad("the end record has ZIP64 markers but there is no room for a ZIP64 locator before it"));
            }
            let loc_pos = eocd_pos - ZIP64_LOCATOR_LEN;
            let loc = read_at(
                src,
                loc_pos,
                ZIP64_LOCATOR_LEN as usize,
                "the ZIP64 locator",
            )?;
            if le32(&loc, 0) != ZIP64_LOCATOR_SIG {
                return Err(bad(format!(
                    "the end record has ZIP64 markers, but the 20 bytes before it are not a ZIP64 locator (signature 0x{:08x})",
                    le32(&loc, 0)
                )));
            }
            if le32(&loc, 4) != 0 || le32(&loc, 16) > 1 {
                return Err(err(ErrorKind::UnsupportedZip, "multi-disk ZIP64 archive"));
            }
            let rec_pos = le64(&loc, 8);
            if rec_pos
                .checked_add(ZIP64_EOCD_LEN)
                .is_none_or(|end| end > loc_pos)
            {
                return Err(bad(format!(
                    "ZIP64 end record at {rec_pos} does not end before its locator at {loc_pos}"
                )));
            }
            let rec = read_at(
                src,
                rec_pos,
                ZIP64_EOCD_LEN as usize,
                "the ZIP64 end record",
            )?;
            if le32(&rec, 0) != ZIP64_EOCD_SIG {
                return Err(bad(format!(
                    "no ZIP64 end record at {rec_pos} (signature 0x{:08x})",
                    le32(&rec, 0)
                )));
            }
            if le32(&rec, 16) != 0 || le32(&rec, 20) != 0 {
                return Err(err(ErrorKind::UnsupportedZip, "multi-disk ZIP64 archive"));
            }
            let n_disk64 = le64(&rec, 24);
            let n64 = le64(&rec, 32);
            if n_disk64 != n64 {
                return Err(err(ErrorKind::UnsupportedZip, "multi-disk ZIP64 archive"));
            }
            (n64, le64(&rec, 40), le64(&rec, 48), rec_pos, true)
        } else {
            if disk != 0 || cd_disk != 0 || n_disk != n_total {
                return Err(err(
                    ErrorKind::UnsupportedZip,
                    format!(
                        "multi-disk archive (disk {disk}, central directory on disk {cd_disk})"
                    ),
                ));
            }
            (
                u64::from(n_total),
                u64::from(cd_size32),
                u64::from(cd_off32),
                eocd_pos,
                false,
            )
        };
        let cd_end = cd_offset.checked_add(cd_size).ok_or_else(|| {
            bad(format!(
                "central directory offset {cd_offset} + size {cd_size} overflows"
            ))
        })?;
        if cd_end > cd_limit {
            return Err(err(
                ErrorKind::Truncated,
                format!(
                    "central directory {cd_offset}..{cd_end} runs past the end record at {cd_limit} (file of {size} bytes)"
                ),
            ));
        }
        if n > cd_size / CENTRAL_LEN as u64 {
            return Err(bad(format!(
                "{n} entries cannot fit in a central directory of {cd_size} bytes (46 bytes each at least)"
            )));
        }
        let cd = read_at(src, cd_offset, cd_size as usize, "the central directory")?;
        let mut entries: Vec<ZipEntry> = Vec::with_capacity(n as usize);
        let mut by_name = HashMap::with_capacity(n as usize);
        let mut p = 0usize;
        for idx in 0..n {
            let what = format!("central directory entry {idx}");
            if p + CENTRAL_LEN > cd.len() {
                return Err(bad(format!("{what} runs past the central directory")));
            }
            if le32(&cd, p) != CENTRAL_SIG {
                return Err(bad(format!(
                    "{what}: bad signature 0x{:08x} (expected 0x{CENTRAL_SIG:08x})",
                    le32(&cd, p)
                )));
            }
            let flags = le16(&cd, p + 8);
            let method = le16(&cd, p + 10);
            let crc = le32(&cd, p + 16);
            let csize32 = le32(&cd, p + 20);
            let usize32 = le32(&cd, p + 24);
            let name_len = le16(&cd, p + 28) as usize;
            let extra_len = le16(&cd, p + 30) as usize;
            let comment_len = le16(&cd, p + 32) as usize;
            let disk_start = le16(&cd, p + 34);
            let off32 = le32(&cd, p + 42);
            let var = p + CENTRAL_LEN;
            let end = var + name_len + extra_len + comment_len;
            if end > cd.len() {
                return Err(bad(format!(
                    "{what}: name/extra/comment run past the central directory"
                )));
            }
            let name_bytes = &cd[var..var + name_len];
            let name = std::str::from_utf8(name_bytes)
                .map_err(|_| bad(format!("{what}: the entry name is not UTF-8")))?
                .to_string();
            let what = format!("entry '{}'", name.escape_debug());
            let extra = &cd[var + name_len..var + name_len + extra_len];
            if flags & 0x0001 != 0 || flags & 0x0040 != 0 {
                return Err(err(
                    ErrorKind::UnsupportedZip,
                    format!("{what} is encrypted"),
                ));
            }
            if method != 0 {
                return Err(err(
                    ErrorKind::UnsupportedZip,
                    format!(
                        "{what} is compressed (method {method}); torch's .pt entries are STORED (method 0)"
                    ),
                ));
            }
            if disk_start != 0 && disk_start != 0xFFFF {
                return Err(err(
                    ErrorKind::UnsupportedZip,
                    format!("{what} starts on disk {disk_start}"),
                ));
            }
            let (u64v, c64v, o64v) = zip64_fields(
                extra,
                usize32 == u32::MAX,
                csize32 == u32::MAX,
                off32 == u32::MAX,
                &what,
            )?;
            let usize_ = u64v.unwrap_or(u64::from(usize32));
            let csize = c64v.unwrap_or(u64::from(csize32));
            let header_offset = o64v.unwrap_or(u64::from(off32));
            if csize != usize_ {
                return Err(bad(format!(
                    "{what}: stored entry with compressed size {csize} != uncompressed size {usize_}"
                )));
            }
            if by_name.insert(name.clone(), entries.len()).is_some() {
                return Err(bad(format!("{what} appears twice")));
            }
            entries.push(ZipEntry {
                name,
                header_offset,
                data_offset: 0,
                size: usize_,
                crc32: crc,
                central_offset: cd_offset + p as u64,
            });
            // flags are re-checked against the local header below
            let _ = flags;
            p = end;
        }
        if p != cd.len() {
            return Err(bad(format!(
                "{} unparsed bytes after the {n} central directory entries",
                cd.len() - p
            )));
        }
        // Local headers: same name, method, sizes; payload inside the file, before the central
        // directory.
        for e in entries.iter_mut() {
            let what = format!("entry '{}'", e.name.escape_debug());
            if e.header_offset
                .checked_add(LOCAL_LEN)
                .is_none_or(|x| x > cd_offset)
            {
                return Err(bad(format!(
                    "{what}: local header at {} is not before the central directory at {cd_offset}",
                    e.header_offset
                )));
            }
            let h = read_at(src, e.header_offset, LOCAL_LEN as usize, &what)?;
            if le32(&h, 0) != LOCAL_SIG {
                return Err(bad(format!(
                    "{what}: no local header at {} (signature 0x{:08x})",
                    e.header_offset,
                    le32(&h, 0)
                )));
            }
            let flags = le16(&h, 6);
            let method = le16(&h, 8);
            let crc = le32(&h, 14);
            let csize32 = le32(&h, 18);
            let usize32 = le32(&h, 22);
            let name_len = le16(&h, 26) as u64;
            let extra_len = le16(&h, 28) as u64;
            if method != 0 {
                return Err(err(
                    ErrorKind::UnsupportedZip,
                    format!("{what}: local header says compression method {method}"),
                ));
            }
            if flags & 0x0041 != 0 {
                return Err(err(
                    ErrorKind::UnsupportedZip,
                    format!("{what}: local header says encrypted"),
                ));
            }
            let var = e.header_offset + LOCAL_LEN;
            let lname = read_at(src, var, name_len as usize, &what)?;
            if lname != e.name.as_bytes() {
                return Err(bad(format!(
                    "{what}: the local header names it '{}'",
                    String::from_utf8_lossy(&lname).escape_debug()
                )));
            }
            // Sizes in the local header: absent (data descriptor, bit 3) or equal.
            if flags & 0x0008 == 0 {
                let extra = read_at(src, var + name_len, extra_len as usize, &what)?;
                let (u, c, _) = zip64_fields(
                    &extra,
                    usize32 == u32::MAX,
                    csize32 == u32::MAX,
                    false,
                    &format!("{what} (local header)"),
                )?;
                let lu = u.unwrap_or(u64::from(usize32));
                let lc = c.unwrap_or(u64::from(csize32));
                if crc != e.crc32 || lu != e.size || lc != e.size {
                    return Err(bad(format!(
                        "{what}: local header says crc 0x{crc:08x}, size {lu}; central directory says crc 0x{:08x}, size {}",
                        e.crc32, e.size
                    )));
                }
            }
            e.data_offset = var + name_len + extra_len;
            let end = e
                .data_offset
                .checked_add(e.size)
                .ok_or_else(|| bad(format!("{what}: offset + size overflows")))?;
            if end > cd_offset {
                return Err(err(
                    ErrorKind::Truncated,
                    format!(
                        "{what}: payload {}..{end} runs past the start of the central directory at {cd_offset} (file of {size} bytes)",
                        e.data_offset
                    ),
                ));
            }
        }
        // No two entries overlap.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|&i| entries[i].header_offset);
        for w in order.windows(2) {
            let (a, b) = (&entries[w[0]], &entries[w[1]]);
            if a.data_offset + a.size > b.header_offset {
                return Err(bad(format!(
                    "entries '{}' ({}..{}) and '{}' (from {}) overlap",
                    a.name.escape_debug(),
                    a.header_offset,
                    a.data_offset + a.size,
                    b.name.escape_debug(),
                    b.header_offset
                )));
            }
        }
        // One root folder.
        let root = match entries.first() {
            None => return Err(bad("the archive has no entries")),
            Some(first) => match first.name.split_once('/') {
                Some((r, rest)) if !r.is_empty() && !rest.is_empty() => r.to_string(),
                _ => {
                    return Err(bad(format!(
                        "the first entry '{}' is not inside a root folder",
                        first.name.escape_debug()
                    )))
                }
            },
        };
        for e in &entries {
            let inside = e
                .name
                .strip_prefix(root.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|r| !r.is_empty());
            if !inside {
                return Err(bad(format!(
                    "entry '{}' is outside the archive's root folder '{}/' (a .pt file has one root folder)",
                    e.name.escape_debug(),
                    root.escape_debug()
                )));
            }
        }
        Ok(ZipArchive {
            entries,
            by_name,
            root,
            zip64,
        })
    }

    fn not_zip(src: &dyn ReadAt, size: u64) -> Error {
        let mut head = [0u8; 4];
        let n = size.min(4) as usize;
        let _ = src.read_exact_at(0, &mut head[..n]);
        if n >= 2 && head[0] == 0x80 && head[1] <= 5 {
            return err(
                ErrorKind::NotZip,
                "not a ZIP archive: this looks like torch's legacy (pre-1.6, non-ZIP) format, which is not supported",
            );
        }
        if n == 4 && le32(&head, 0) == LOCAL_SIG {
            return err(
                ErrorKind::Truncated,
                format!("a ZIP archive without its end-of-central-directory record (truncated? {size} bytes)"),
            );
        }
        err(
            ErrorKind::NotZip,
            format!("not a ZIP archive (no end-of-central-directory record in {size} bytes)"),
        )
    }

    /// The root folder's name (the part before the first `/` of every entry).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Whether the archive uses ZIP64 end records.
    pub fn is_zip64(&self) -> bool {
        self.zip64
    }

    /// Every entry, in central-directory order.
    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// The entry `<root>/<name>`.
    pub fn get(&self, name: &str) -> Option<&ZipEntry> {
        let full = format!("{}/{}", self.root, name);
        self.by_name.get(&full).map(|&i| &self.entries[i])
    }

    /// Index of the entry `<root>/<name>` in [`ZipArchive::entries`].
    pub fn index_of(&self, name: &str) -> Option<usize> {
        let full = format!("{}/{}", self.root, name);
        self.by_name.get(&full).copied()
    }
}

fn checksum_error(e: &ZipEntry, computed: u32) -> Error {
    err(
        ErrorKind::Checksum,
        format!(
            "CRC-32 of entry '{}' does not match: stored 0x{:08x}, computed 0x{computed:08x}",
            e.name.escape_debug(),
            e.crc32
        ),
    )
}

/// Reads the whole payload of `e` into memory, verifying its CRC-32 (the size is bounded by the
/// file: [`ZipArchive::parse`] checked it).
pub fn read_entry(src: &dyn ReadAt, e: &ZipEntry) -> Result<Vec<u8>> {
    let buf = read_at(
        src,
        e.data_offset,
        e.size as usize,
        &format!("entry '{}'", e.name),
    )?;
    let c = crc32fast::hash(&buf);
    if c != e.crc32 {
        return Err(checksum_error(e, c));
    }
    Ok(buf)
}

/// Verifies the CRC-32 of `e` reading it in bounded chunks; bytes `range` (relative to the
/// payload) are handed to `visit` in order as they pass.
pub fn stream_entry(
    src: &dyn ReadAt,
    e: &ZipEntry,
    range: std::ops::Range<u64>,
    visit: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    if let Some(all) = src.as_slice() {
        let start = usize::try_from(e.data_offset).map_err(|_| bad("offset too large"))?;
        let end = start + e.size as usize;
        let payload = all.get(start..end).ok_or_else(|| {
            err(
                ErrorKind::Truncated,
                format!("entry '{}' is past the end of the source", e.name),
            )
        })?;
        let c = crc32fast::hash(payload);
        if c != e.crc32 {
            return Err(checksum_error(e, c));
        }
        if range.start < range.end {
            visit(&payload[range.start as usize..range.end as usize])?;
        }
        return Ok(());
    }
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; CHUNK.min(e.size as usize)];
    let mut pos = 0u64;
    while pos < e.size {
        let n = (e.size - pos).min(CHUNK as u64) as usize;
        let b = &mut buf[..n];
        src.read_exact_at(e.data_offset + pos, b)
            .map_err(|x| Error::io(format!("reading entry '{}'", e.name), x))?;
        h.update(b);
        let (lo, hi) = (pos.max(range.start), (pos + n as u64).min(range.end));
        if lo < hi {
            visit(&b[(lo - pos) as usize..(hi - pos) as usize])?;
        }
        pos += n as u64;
    }
    let c = h.finalize();
    if c != e.crc32 {
        return Err(checksum_error(e, c));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Writer

struct Central {
    name: String,
    header_offset: u64,
    size: u64,
    crc32: u32,
}

/// A writer of STORED ZIP entries, each payload aligned to [`ALIGNMENT`] bytes with torch's
/// padding extra field, ZIP64 records where sizes, offsets or the entry count need them (or
/// always, with `force_zip64`, so tests can cover the ZIP64 paths with small files).
pub struct ZipWriter<W: Write + Seek> {
    w: W,
    pos: u64,
    entries: Vec<Central>,
    force_zip64: bool,
}

/// Counts the bytes written through it and their CRC-32.
pub(crate) struct CrcWriter<'a, W: Write> {
    inner: &'a mut W,
    hasher: crc32fast::Hasher,
    pub(crate) written: u64,
}

impl<W: Write> Write for CrcWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write + Seek> ZipWriter<W> {
    /// Starts an archive at the current position 0 of `w`.
    pub fn new(w: W, force_zip64: bool) -> ZipWriter<W> {
        ZipWriter {
            w,
            pos: 0,
            entries: Vec::new(),
            force_zip64,
        }
    }

    /// Writes one entry of exactly `size` bytes, produced by `fill` (which may write in any
    /// number of calls); the CRC is computed on the way and patched into the local header.
    pub fn add(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let header_offset = self.pos;
        let zip64 = self.force_zip64 || size >= u64::from(u32::MAX);
        let name_b = name.as_bytes();
        let name_len = u16::try_from(name_b.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "entry name too long"))?;
        let z64_len: u64 = if zip64 { 20 } else { 0 };
        let base = header_offset + LOCAL_LEN + name_b.len() as u64 + z64_len + 4;
        let pad = (ALIGNMENT - base % ALIGNMENT) % ALIGNMENT;
        let extra_len = z64_len + 4 + pad;
        let mut h = Vec::with_capacity((LOCAL_LEN + name_b.len() as u64 + extra_len) as usize);
        h.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        h.extend_from_slice(&(if zip64 { 45u16 } else { 20u16 }).to_le_bytes()); // version needed
        h.extend_from_slice(&0u16.to_le_bytes()); // flags
        h.extend_from_slice(&0u16.to_le_bytes()); // method: stored
        h.extend_from_slice(&0u16.to_le_bytes()); // time 00:00
        h.extend_from_slice(&0x0021u16.to_le_bytes()); // date 1980-01-01
        h.extend_from_slice(&0u32.to_le_bytes()); // crc, patched below
        let s32 = if zip64 { u32::MAX } else { size as u32 };
        h.extend_from_slice(&s32.to_le_bytes());
        h.extend_from_slice(&s32.to_le_bytes());
        h.extend_from_slice(&name_len.to_le_bytes());
        h.extend_from_slice(&(extra_len as u16).to_le_bytes());
        h.extend_from_slice(name_b);
        if zip64 {
            h.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
            h.extend_from_slice(&16u16.to_le_bytes());
            h.extend_from_slice(&size.to_le_bytes());
            h.extend_from_slice(&size.to_le_bytes());
        }
        h.extend_from_slice(&TORCH_PAD_EXTRA.to_le_bytes());
        h.extend_from_slice(&(pad as u16).to_le_bytes());
        h.resize(h.len() + pad as usize, 0);
        self.w.write_all(&h)?;
        self.pos += h.len() as u64;
        debug_assert_eq!(self.pos % ALIGNMENT, 0);
        let mut cw = CrcWriter {
            inner: &mut self.w,
            hasher: crc32fast::Hasher::new(),
            written: 0,
        };
        fill(&mut cw)?;
        let (written, crc) = (cw.written, cw.hasher.finalize());
        if written != size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("entry '{name}': {written} bytes were written, {size} were declared"),
            ));
        }
        self.pos += size;
        self.w.seek(SeekFrom::Start(header_offset + 14))?;
        self.w.write_all(&crc.to_le_bytes())?;
        self.w.seek(SeekFrom::Start(self.pos))?;
        self.entries.push(Central {
            name: name.to_string(),
            header_offset,
            size,
            crc32: crc,
        });
        Ok(())
    }

    /// Writes the central directory and the end records; returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        let cd_offset = self.pos;
        let mut cd = Vec::new();
        for e in &self.entries {
            let big_size = self.force_zip64 || e.size >= u64::from(u32::MAX);
            let big_off = self.force_zip64 || e.header_offset >= u64::from(u32::MAX);
            let mut extra = Vec::new();
            if big_size || big_off {
                let mut body = Vec::new();
                if big_size {
                    body.extend_from_slice(&e.size.to_le_bytes());
                    body.extend_from_slice(&e.size.to_le_bytes());
                }
                if big_off {
                    body.extend_from_slice(&e.header_offset.to_le_bytes());
                }
                extra.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
                extra.extend_from_slice(&(body.len() as u16).to_le_bytes());
                extra.extend_from_slice(&body);
            }
            let zip64 = big_size || big_off;
            cd.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            cd.extend_from_slice(&(if zip64 { 45u16 } else { 20u16 }).to_le_bytes()); // made by
            cd.extend_from_slice(&(if zip64 { 45u16 } else { 20u16 }).to_le_bytes()); // needed
            cd.extend_from_slice(&0u16.to_le_bytes()); // flags
            cd.extend_from_slice(&0u16.to_le_bytes()); // method
            cd.extend_from_slice(&0u16.to_le_bytes()); // time
            cd.extend_from_slice(&0x0021u16.to_le_bytes()); // date
            cd.extend_from_slice(&e.crc32.to_le_bytes());
            let s32 = if big_size { u32::MAX } else { e.size as u32 };
            cd.extend_from_slice(&s32.to_le_bytes());
            cd.extend_from_slice(&s32.to_le_bytes());
            cd.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            cd.extend_from_slice(&0u16.to_le_bytes()); // comment
            cd.extend_from_slice(&0u16.to_le_bytes()); // disk
            cd.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            cd.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            let o32 = if big_off {
                u32::MAX
            } else {
                e.header_offset as u32
            };
            cd.extend_from_slice(&o32.to_le_bytes());
            cd.extend_from_slice(e.name.as_bytes());
            cd.extend_from_slice(&extra);
        }
        let cd_size = cd.len() as u64;
        let n = self.entries.len() as u64;
        self.w.write_all(&cd)?;
        self.pos += cd_size;
        let zip64 = self.force_zip64
            || n >= 0xFFFF
            || cd_offset >= u64::from(u32::MAX)
            || cd_size >= u64::from(u32::MAX);
        let mut end = Vec::new();
        if zip64 {
            let rec_pos = self.pos;
            end.extend_from_slice(&ZIP64_EOCD_SIG.to_le_bytes());
            end.extend_from_slice(&(ZIP64_EOCD_LEN - 12).to_le_bytes());
            end.extend_from_slice(&45u16.to_le_bytes());
            end.extend_from_slice(&45u16.to_le_bytes());
            end.extend_from_slice(&0u32.to_le_bytes());
            end.extend_from_slice(&0u32.to_le_bytes());
            end.extend_from_slice(&n.to_le_bytes());
            end.extend_from_slice(&n.to_le_bytes());
            end.extend_from_slice(&cd_size.to_le_bytes());
            end.extend_from_slice(&cd_offset.to_le_bytes());
            end.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
            end.extend_from_slice(&0u32.to_le_bytes());
            end.extend_from_slice(&rec_pos.to_le_bytes());
            end.extend_from_slice(&1u32.to_le_bytes());
        }
        let n16 = if zip64 { 0xFFFF } else { n as u16 };
        end.extend_from_slice(&EOCD_SIG.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        end.extend_from_slice(&n16.to_le_bytes());
        end.extend_from_slice(&n16.to_le_bytes());
        let cs = if zip64 { u32::MAX } else { cd_size as u32 };
        let co = if zip64 { u32::MAX } else { cd_offset as u32 };
        end.extend_from_slice(&cs.to_le_bytes());
        end.extend_from_slice(&co.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        self.w.write_all(&end)?;
        self.pos += end.len() as u64;
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn archive(force64: bool, items: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = ZipWriter::new(Cursor::new(Vec::new()), force64);
        for (name, data) in items {
            z.add(name, data.len() as u64, &mut |w| w.write_all(data))
                .unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    #[test]
    fn round_trip_aligned_and_zip64() {
        for force in [false, true] {
            let buf = archive(
                force,
                &[("r/a", b"hello"), ("r/b", b""), ("r/c", &[7u8; 100])],
            );
            let z = ZipArchive::parse(&buf).unwrap();
            assert_eq!(z.root(), "r");
            assert_eq!(z.is_zip64(), force);
            assert_eq!(z.entries().len(), 3);
            for (name, want) in [("a", &b"hello"[..]), ("b", b""), ("c", &[7u8; 100])] {
                let e = z.get(name).unwrap();
                assert_eq!(e.data_offset % ALIGNMENT, 0);
                assert_eq!(read_entry(&buf, e).unwrap(), want);
            }
        }
    }

    #[test]
    fn declared_size_must_match() {
        let mut z = ZipWriter::new(Cursor::new(Vec::new()), false);
        let e = z.add("r/a", 4, &mut |w| w.write_all(b"abc")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn crc_flip_is_detected() {
        let mut buf = archive(false, &[("r/a", b"hello world")]);
        let z = ZipArchive::parse(&buf).unwrap();
        let off = z.get("a").unwrap().data_offset as usize;
        buf[off] ^= 1;
        let z = ZipArchive::parse(&buf).unwrap();
        let e = read_entry(&buf, z.get("a").unwrap()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Checksum);
        let mut seen = Vec::new();
        let e = stream_entry(&buf.as_slice(), z.get("a").unwrap(), 0..11, &mut |b| {
            seen.extend_from_slice(b);
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Checksum);
    }

    #[test]
    fn structural_rules() {
        // two root folders
        let buf = archive(false, &[("r/a", b"x"), ("s/b", b"y")]);
        assert_eq!(
            ZipArchive::parse(&buf).unwrap_err().kind(),
            ErrorKind::BadZip
        );
        // no root folder
        let buf = archive(false, &[("a", b"x")]);
        assert_eq!(
            ZipArchive::parse(&buf).unwrap_err().kind(),
            ErrorKind::BadZip
        );
        // duplicate names
        let buf = archive(false, &[("r/a", b"x"), ("r/a", b"y")]);
        assert_eq!(
            ZipArchive::parse(&buf).unwrap_err().kind(),
            ErrorKind::BadZip
        );
        // not a zip; legacy torch pickle
        assert_eq!(
            ZipArchive::parse(&vec![0u8; 100]).unwrap_err().kind(),
            ErrorKind::NotZip
        );
        let mut legacy = vec![0x80, 0x02];
        legacy.resize(64, 0);
        let e = ZipArchive::parse(&legacy).unwrap_err();
        assert!(e.to_string().contains("legacy"), "{e}");
    }

    #[test]
    fn compressed_entries_are_refused() {
        let mut buf = archive(false, &[("r/a", b"xyz")]);
        // set the method to deflate (8) in the central header
        let z = ZipArchive::parse(&buf).unwrap();
        let cd = buf.len() - 22 - (46 + 3);
        assert_eq!(le32(&buf, cd), CENTRAL_SIG);
        buf[cd + 10] = 8;
        let e = ZipArchive::parse(&buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnsupportedZip, "{e}");
        drop(z);
    }

    #[test]
    fn overlapping_entries_are_refused() {
        let mut buf = archive(false, &[("r/a", &[1u8; 80]), ("r/b", b"yy")]);
        let z = ZipArchive::parse(&buf).unwrap();
        let a = z.get("a").unwrap().clone();
        // point b's central header at a's local header + 0 (same header -> name mismatch) ...
        // ... instead grow a's sizes so its payload runs into b
        let cd = buf.len() - 22 - 2 * (46 + 3);
        assert_eq!(le32(&buf, cd), CENTRAL_SIG);
        let bigger = (a.size + 10) as u32;
        buf[cd + 20..cd + 24].copy_from_slice(&bigger.to_le_bytes());
        buf[cd + 24..cd + 28].copy_from_slice(&bigger.to_le_bytes());
        let lh = a.header_offset as usize;
        buf[lh + 18..lh + 22].copy_from_slice(&bigger.to_le_bytes());
        buf[lh + 22..lh + 26].copy_from_slice(&bigger.to_le_bytes());
        let e = ZipArchive::parse(&buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadZip, "{e}");
        assert!(e.to_string().contains("overlap"), "{e}");
    }
}
