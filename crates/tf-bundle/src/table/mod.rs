//! The LevelDB-style table ("SSTable") that holds a V2 `.index` and every V1 checkpoint file
//! (docs/tf-bundle-format.md §2): footer and magic, block handles, block trailers with masked CRC32C, raw
//! snappy blocks (anywhere, the index block included), prefix-compressed entries with restart
//! arrays, multi-block indexes.
//!
//! A [`Table`] holds only the footer and the decoded index block; data blocks are read from the
//! source on demand. Errors carry no file path: callers attach it.

use crate::crc;
use crate::error::{Error, Part, Result};
use crate::io::{read_vec, ReadAt};
use crate::varint;

/// Length of the table footer.
pub const FOOTER_LEN: u64 = 48;
/// The table magic number (`0xdb4775248b80fb57`), stored little-endian at footer offset 40.
pub const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Length of the trailer after each block (type byte + masked CRC).
pub const TRAILER_LEN: u64 = 5;
/// Block type: stored as is.
pub const NO_COMPRESSION: u8 = 0;
/// Block type: raw snappy.
pub const SNAPPY: u8 = 1;

/// A block's location: `size` excludes the 5-byte trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHandle {
    pub offset: u64,
    pub size: u64,
}

impl BlockHandle {
    /// Decodes `offset: varint64 ‖ size: varint64` at the start of `buf` (bytes after it are
    /// ignored, as TF does): `(handle, bytes used)`.
    pub fn decode(buf: &[u8]) -> Result<(BlockHandle, usize)> {
        let bad = || Error::corrupt(Part::Table, "bad block handle");
        let (offset, a) = varint::decode_u64(buf).ok_or_else(bad)?;
        let (size, b) = varint::decode_u64(buf.get(a..).ok_or_else(bad)?).ok_or_else(bad)?;
        Ok((BlockHandle { offset, size }, a + b))
    }

    /// Appends the encoding of this handle.
    pub fn encode(&self, out: &mut Vec<u8>) {
        varint::encode_u64(self.offset, out);
        varint::encode_u64(self.size, out);
    }
}

/// The decoded 48-byte footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    pub metaindex: BlockHandle,
    pub index: BlockHandle,
}

impl Footer {
    /// Decodes a footer (exactly [`FOOTER_LEN`] bytes), checking the magic.
    pub fn decode(buf: &[u8]) -> Result<Footer> {
        if buf.len() as u64 != FOOTER_LEN {
            return Err(Error::corrupt(
                Part::Table,
                "file is too short to be an sstable",
            ));
        }
        let magic = varint::fixed64(buf, 40).unwrap_or(0);
        if magic != MAGIC {
            return Err(Error::corrupt(
                Part::Table,
                format!(
                "not an sstable (bad magic number): expected {MAGIC:#018x}, found {magic:#018x}"
            ),
            ));
        }
        let (metaindex, used) = BlockHandle::decode(&buf[..40])?;
        let (index, _) = BlockHandle::decode(&buf[used..40])?;
        Ok(Footer { metaindex, index })
    }
}

/// Reads a block: bounds check, trailer CRC (over the stored bytes and the type byte), then
/// snappy decompression when the type says so (with a cap on the decompressed length).
/// `what` names the block in errors ("index block", "data block 3", ...).
pub fn read_block(src: &dyn ReadAt, handle: BlockHandle, what: &str) -> Result<Vec<u8>> {
    let total = handle
        .size
        .checked_add(TRAILER_LEN)
        .ok_or_else(|| Error::corrupt(Part::Block, format!("{what}: handle.size() too big")))?;
    let end = handle.offset.checked_add(total).ok_or_else(|| {
        Error::corrupt(
            Part::Block,
            format!("{what}: bad block handle (offset overflows)"),
        )
    })?;
    if end > src.size() {
        return Err(Error::truncated(
            Part::Block,
            format!(
            "truncated block read: {what} at {}..{end} (with trailer) but the file has {} bytes",
            handle.offset,
            src.size()
        ),
        ));
    }
    let mut raw = read_vec(src, handle.offset, total)?;
    let n = raw.len() - TRAILER_LEN as usize;
    let block_type = raw[n];
    let stored = varint::fixed32(&raw, n + 1).unwrap_or(0);
    let computed = crc::crc32c(&raw[..=n]);
    if crc::unmask(stored) != computed {
        return Err(Error::new(crate::ErrorKind::Checksum {
            what: format!("block ({what})"),
            stored: crc::unmask(stored),
            computed,
        }));
    }
    raw.truncate(n);
    match block_type {
        NO_COMPRESSION => Ok(raw),
        SNAPPY => decompress(&raw, what),
        t => Err(Error::corrupt(
            Part::Block,
            format!("bad block type: {what} has type {t}, expected 0 (none) or 1 (snappy)"),
        )),
    }
}

/// Decompresses a raw snappy block. Valid snappy expands at most ~21x (a 3-byte copy tag
/// yields 64 bytes), so a larger declared length is corruption and is refused before
/// allocating.
pub fn decompress(data: &[u8], what: &str) -> Result<Vec<u8>> {
    let bad = |m: String| {
        Error::corrupt(
            Part::Table,
            format!("corrupted compressed block contents: {what}: {m}"),
        )
    };
    let len = snap::raw::decompress_len(data).map_err(|e| bad(e.to_string()))?;
    let cap = data.len().saturating_mul(22).saturating_add(16);
    if len > cap {
        return Err(bad(format!(
            "declared length {len} exceeds the maximum {cap} for {} compressed bytes",
            data.len()
        )));
    }
    let mut out = vec![0u8; len];
    let got = snap::raw::Decoder::new()
        .decompress(data, &mut out)
        .map_err(|e| bad(e.to_string()))?;
    if got != len {
        return Err(bad(format!("decompressed {got} bytes, expected {len}")));
    }
    Ok(out)
}

/// Decodes a block's entries (after decompression), with TF's validity rules and stricter
/// ones: restart offsets in range and increasing, restart entries with `shared = 0`, the
/// entries region parsed exactly, keys strictly increasing.
pub fn parse_block(block: &[u8], what: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let bad = |m: String| Error::corrupt(Part::Block, format!("bad block contents: {what}: {m}"));
    if block.len() < 4 {
        return Err(bad(format!("{} bytes, need at least 4", block.len())));
    }
    let num_restarts = varint::fixed32(block, block.len() - 4).unwrap_or(0) as usize;
    let max_restarts = (block.len() - 4) / 4;
    if num_restarts > max_restarts {
        return Err(bad(format!(
            "{num_restarts} restarts do not fit in {} bytes",
            block.len()
        )));
    }
    if num_restarts == 0 {
        // TF treats this as an empty block.
        return Ok(Vec::new());
    }
    let restart_offset = block.len() - 4 * (num_restarts + 1);
    let mut restarts = Vec::with_capacity(num_restarts);
    for i in 0..num_restarts {
        let r = varint::fixed32(block, restart_offset + 4 * i).unwrap_or(u32::MAX) as usize;
        if !(r < restart_offset || (r == 0 && restart_offset == 0)) {
            return Err(bad(format!(
                "restart {i} at offset {r} is not inside the entries region 0..{restart_offset}"
            )));
        }
        if let Some(&prev) = restarts.last() {
            if r <= prev {
                return Err(bad(format!(
                    "restart offsets not increasing ({prev} then {r})"
                )));
            }
        }
        restarts.push(r);
    }
    if restarts[0] != 0 {
        return Err(bad(format!(
            "first restart offset is {}, expected 0",
            restarts[0]
        )));
    }
    // Decoded keys can be longer than the block (prefix sharing); bound the total.
    let key_budget = block.len().saturating_mul(256).saturating_add(1 << 20);
    let mut key_bytes = 0usize;
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut prev_key: Vec<u8> = Vec::new();
    let mut pos = 0usize;
    let mut next_restart = 0usize;
    let region = &block[..restart_offset];
    while pos < restart_offset {
        let entry_at = pos;
        let bad_entry = || {
            Error::corrupt(
                Part::Block,
                format!("bad entry in block: {what} at offset {entry_at}"),
            )
        };
        let (shared, a) = varint::decode_u32(&region[pos..]).ok_or_else(bad_entry)?;
        pos += a;
        let (non_shared, b) =
            varint::decode_u32(region.get(pos..).ok_or_else(bad_entry)?).ok_or_else(bad_entry)?;
        pos += b;
        let (value_len, c) =
            varint::decode_u32(region.get(pos..).ok_or_else(bad_entry)?).ok_or_else(bad_entry)?;
        pos += c;
        let (shared, non_shared, value_len) =
            (shared as usize, non_shared as usize, value_len as usize);
        if shared > prev_key.len() {
            return Err(bad(format!(
                "entry at offset {entry_at} shares {shared} bytes with a {}-byte previous key",
                prev_key.len()
            )));
        }
        let key_end = pos.checked_add(non_shared).ok_or_else(bad_entry)?;
        let value_end = key_end.checked_add(value_len).ok_or_else(bad_entry)?;
        if value_end > restart_offset {
            return Err(bad(format!(
                "entry at offset {entry_at} runs to {value_end}, past the restart array at {restart_offset}"
            )));
        }
        let is_restart = restarts.get(next_restart) == Some(&entry_at);
        if is_restart {
            next_restart += 1;
            if shared != 0 {
                return Err(bad(format!(
                    "restart entry at offset {entry_at} has shared = {shared}, expected 0"
                )));
            }
        }
        let mut key = Vec::with_capacity(shared + non_shared);
        key.extend_from_slice(&prev_key[..shared]);
        key.extend_from_slice(&region[pos..key_end]);
        key_bytes = key_bytes.saturating_add(key.len());
        if key_bytes > key_budget {
            return Err(bad("decoded keys exceed the size limit".into()));
        }
        if !entries.is_empty() && key <= prev_key {
            return Err(Error::corrupt(
                Part::Block,
                format!(
                    "keys out of order in {what}: {:?} follows {:?}",
                    crate::key::printable_key(&key),
                    crate::key::printable_key(&prev_key)
                ),
            ));
        }
        let value = region[key_end..value_end].to_vec();
        prev_key.clone_from(&key);
        entries.push((key, value));
        pos = value_end;
    }
    if restart_offset > 0 && next_restart != restarts.len() {
        return Err(bad(format!(
            "restart offset {} does not point at an entry",
            restarts[next_restart]
        )));
    }
    Ok(entries)
}

/// An opened table: footer plus decoded index block. It does not own its source; pass the
/// same source to every method.
#[derive(Clone, Debug)]
pub struct Table {
    footer: Footer,
    index: Vec<(Vec<u8>, BlockHandle)>,
}

impl Table {
    /// Reads the footer, checks the metaindex block's CRC, and decodes the index block.
    pub fn parse(src: &dyn ReadAt) -> Result<Table> {
        let len = src.size();
        if len < FOOTER_LEN {
            return Err(Error::truncated(
                Part::Table,
                format!(
                    "file is too short to be an sstable: {len} bytes, need at least {FOOTER_LEN}"
                ),
            ));
        }
        let footer = Footer::decode(&read_vec(src, len - FOOTER_LEN, FOOTER_LEN)?)?;
        let meta = read_block(src, footer.metaindex, "metaindex block")?;
        parse_block(&meta, "metaindex block")?;
        let index_block = read_block(src, footer.index, "index block")?;
        let mut index = Vec::new();
        for (i, (key, value)) in parse_block(&index_block, "index block")?
            .into_iter()
            .enumerate()
        {
            let (handle, _) = BlockHandle::decode(&value).map_err(|_| {
                Error::corrupt(Part::Table, format!("bad block handle in index entry {i}"))
            })?;
            let end = handle
                .offset
                .checked_add(handle.size)
                .and_then(|e| e.checked_add(TRAILER_LEN));
            if end.is_none_or(|e| e > len) {
                return Err(Error::truncated(Part::Table, format!(
                    "truncated block read: index entry {i} points at {}+{} (+5), file has {len} bytes",
                    handle.offset, handle.size
                )));
            }
            index.push((key, handle));
        }
        Ok(Table { footer, index })
    }

    /// The footer.
    pub fn footer(&self) -> Footer {
        self.footer
    }

    /// Number of data blocks (= index entries).
    pub fn num_data_blocks(&self) -> usize {
        self.index.len()
    }

    /// The index entries: (separator key, data block handle), in file order.
    pub fn index(&self) -> &[(Vec<u8>, BlockHandle)] {
        &self.index
    }

    /// Reads and decodes data block `i`.
    pub fn read_data_block(&self, src: &dyn ReadAt, i: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let (_, handle) = self
            .index
            .get(i)
            .ok_or_else(|| Error::corrupt(Part::Block, format!("no data block {i}")))?;
        let what = format!("data block {i}");
        parse_block(&read_block(src, *handle, &what)?, &what)
    }

    /// Every entry of the table in order, checking that keys increase strictly across blocks
    /// and that each index separator lies between its block's last key and the next block's
    /// first key.
    pub fn entries(&self, src: &dyn ReadAt) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut all: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut prev_sep: Option<&[u8]> = None;
        for (i, (sep, _)) in self.index.iter().enumerate() {
            let block = self.read_data_block(src, i)?;
            if let (Some(first), Some(last)) = (block.first(), all.last()) {
                if first.0 <= last.0 {
                    return Err(Error::corrupt(
                        Part::Table,
                        format!(
                            "keys out of order: data block {i} starts with {:?} after {:?}",
                            crate::key::printable_key(&first.0),
                            crate::key::printable_key(&last.0)
                        ),
                    ));
                }
            }
            if let (Some(first), Some(p)) = (block.first(), prev_sep) {
                if first.0.as_slice() <= p {
                    return Err(Error::corrupt(Part::Table, format!(
                        "index separator of data block {} is not below the first key of data block {i}",
                        i - 1
                    )));
                }
            }
            if let Some(last) = block.last() {
                if sep.as_slice() < last.0.as_slice() {
                    return Err(Error::corrupt(
                        Part::Table,
                        format!("index separator of data block {i} is below the block's last key"),
                    ));
                }
            }
            prev_sep = Some(sep);
            all.extend(block);
        }
        Ok(all)
    }

    /// Looks `key` up: the first index entry with separator ≥ key names the only block that can
    /// hold it.
    pub fn get(&self, src: &dyn ReadAt, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let i = self.index.partition_point(|(sep, _)| sep.as_slice() < key);
        if i >= self.index.len() {
            return Ok(None);
        }
        let block = self.read_data_block(src, i)?;
        Ok(block
            .binary_search_by(|(k, _)| k.as_slice().cmp(key))
            .ok()
            .map(|j| block[j].1.clone()))
    }
}

pub mod builder;
