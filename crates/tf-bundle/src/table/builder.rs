//! TensorFlow's `TableBuilder` (LevelDB table format without filters), reproduced byte for byte
//! (docs/tf-bundle-format.md §2.9): with the default options (block size 256 KiB, restart interval 16 for data
//! blocks and the metaindex, 1 for the index block, no compression) it writes TF's `.index` and
//! V1 files exactly, including the "huge entry gets its own block" rule and leveldb's bytewise
//! `FindShortestSeparator` / `FindShortSuccessor`. Used by the bundle writer
//! ([`crate::write::BundleWriter`]) and by tests (snappy tables, V1 files, corrupted variants).

use std::borrow::Cow;

use super::{BlockHandle, FOOTER_LEN, MAGIC, NO_COMPRESSION, SNAPPY};
use crate::crc;
use crate::error::{Error, Result};
use crate::varint;

/// TF's table block size for bundles and V1 files (`table_options.h`; not LevelDB's 4 KiB).
pub const BLOCK_SIZE: usize = 262_144;
/// TF's restart interval of data blocks and the metaindex block (the index block uses 1).
pub const DATA_RESTART_INTERVAL: usize = 16;

/// Table writer options; the default is TF's (256 KiB blocks, restart interval 16, no
/// compression).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableOptions {
    pub block_size: usize,
    pub restart_interval: usize,
    /// [`NO_COMPRESSION`] or [`SNAPPY`] (used for a block only when it saves ≥ 12.5 %).
    pub compression: u8,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            block_size: BLOCK_SIZE,
            restart_interval: DATA_RESTART_INTERVAL,
            compression: NO_COMPRESSION,
        }
    }
}

#[derive(Debug, Default)]
struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    counter: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    fn new() -> Self {
        BlockBuilder {
            restarts: vec![0],
            ..Default::default()
        }
    }
    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    fn add(&mut self, key: &[u8], value: &[u8], interval: usize) {
        let mut shared = 0;
        if self.counter < interval {
            shared = self
                .last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count();
        } else {
            // Offsets inside one block: a block never exceeds a few times the block size plus
            // one entry, and the callers bound entries far below 4 GiB.
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
        }
        varint::encode_u64(shared as u64, &mut self.buf);
        varint::encode_u64((key.len() - shared) as u64, &mut self.buf);
        varint::encode_u64(value.len() as u64, &mut self.buf);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.counter += 1;
    }
    fn size_estimate(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }
    fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        *self = BlockBuilder::new();
        out
    }
}

/// Builds a whole table in memory (an `.index` holds only small protos; V1 files are small).
#[derive(Debug)]
pub struct TableBuilder {
    opts: TableOptions,
    out: Vec<u8>,
    data: BlockBuilder,
    index: BlockBuilder,
    pending: Option<BlockHandle>,
    last_key: Vec<u8>,
    num_entries: u64,
}

impl TableBuilder {
    /// A new, empty table.
    pub fn new(opts: TableOptions) -> Self {
        TableBuilder {
            opts,
            out: Vec::new(),
            data: BlockBuilder::new(),
            index: BlockBuilder::new(),
            pending: None,
            last_key: Vec::new(),
            num_entries: 0,
        }
    }

    /// Adds an entry; keys must be strictly increasing.
    pub fn add(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if self.num_entries > 0 && key <= self.last_key.as_slice() {
            return Err(Error::new(crate::ErrorKind::InvalidArgument(
                "table keys must be added in strictly increasing order".into(),
            )));
        }
        if self.num_entries > 0 && key.len() + value.len() >= 2 * self.opts.block_size {
            self.flush();
        }
        if let Some(h) = self.pending.take() {
            let sep = shortest_separator(&self.last_key, key);
            let mut v = Vec::new();
            h.encode(&mut v);
            self.index.add(&sep, &v, 1);
        }
        self.data.add(key, value, self.opts.restart_interval);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.num_entries += 1;
        if self.data.size_estimate() >= self.opts.block_size {
            self.flush();
        }
        Ok(())
    }

    fn flush(&mut self) {
        if self.data.is_empty() {
            return;
        }
        let block = self.data.finish();
        self.pending = Some(self.write_block(&block));
    }

    fn write_block(&mut self, raw: &[u8]) -> BlockHandle {
        let mut contents = Cow::Borrowed(raw);
        let mut block_type = NO_COMPRESSION;
        if self.opts.compression == SNAPPY {
            if let Ok(c) = snap::raw::Encoder::new().compress_vec(raw) {
                if c.len() < raw.len() - raw.len() / 8 {
                    contents = Cow::Owned(c);
                    block_type = SNAPPY;
                }
            }
        }
        let handle = BlockHandle {
            offset: self.out.len() as u64,
            size: contents.len() as u64,
        };
        self.out.extend_from_slice(&contents);
        let c = crc::extend(crc::crc32c(&contents), &[block_type]);
        self.out.push(block_type);
        self.out.extend_from_slice(&crc::mask(c).to_le_bytes());
        handle
    }

    /// Finishes the table and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush();
        let meta = BlockBuilder::new().finish();
        let meta_handle = self.write_block(&meta);
        if let Some(h) = self.pending.take() {
            let sep = short_successor(&self.last_key);
            let mut v = Vec::new();
            h.encode(&mut v);
            self.index.add(&sep, &v, 1);
        }
        let index = self.index.finish();
        let index_handle = self.write_block(&index);
        let mut footer = Vec::with_capacity(FOOTER_LEN as usize);
        meta_handle.encode(&mut footer);
        index_handle.encode(&mut footer);
        footer.resize(FOOTER_LEN as usize - 8, 0);
        footer.extend_from_slice(&MAGIC.to_le_bytes());
        self.out.extend_from_slice(&footer);
        self.out
    }
}

/// LevelDB's `FindShortestSeparator`.
pub fn shortest_separator(start: &[u8], limit: &[u8]) -> Vec<u8> {
    let i = start.iter().zip(limit).take_while(|(a, b)| a == b).count();
    if i < start.len() && i < limit.len() {
        let b = start[i];
        if b < 0xff && b + 1 < limit[i] {
            let mut s = start[..i].to_vec();
            s.push(b + 1);
            return s;
        }
    }
    start.to_vec()
}

/// LevelDB's `FindShortSuccessor`.
pub fn short_successor(key: &[u8]) -> Vec<u8> {
    for (i, &b) in key.iter().enumerate() {
        if b != 0xff {
            let mut s = key[..i].to_vec();
            s.push(b + 1);
            return s;
        }
    }
    key.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_successors_spec_2_9() {
        assert_eq!(short_successor(b"s"), b"t");
        assert_eq!(short_successor(b"u8"), b"v");
        assert_eq!(short_successor(b"\x00w"), b"\x01");
        assert_eq!(short_successor(b"\x00w\x01"), b"\x01");
        assert_eq!(short_successor(b"\xff\xff"), b"\xff\xff");
        assert_eq!(short_successor(b"\xffa"), b"\xffb");
        // differing by one at the first differing byte: keep start
        assert_eq!(
            shortest_separator(b"layer_00913/x", b"layer_00914/x"),
            b"layer_00913/x"
        );
        assert_eq!(shortest_separator(b"abc", b"abe"), b"abd");
        assert_eq!(shortest_separator(b"ab", b"abc"), b"ab");
        assert_eq!(shortest_separator(b"a\xff", b"b\x00"), b"a\xff");
        assert_eq!(shortest_separator(b"a", b"m"), b"b");
    }

    #[test]
    fn empty_table_is_metaindex_index_footer() {
        let t = TableBuilder::new(TableOptions::default()).finish();
        // metaindex (8 + 5), empty index (8 + 5), footer 48
        assert_eq!(t.len(), 13 + 13 + 48);
        assert_eq!(&t[..8], &[0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&t[8..13], &[0, 0xc0, 0xf2, 0xa1, 0xb0]);
        assert_eq!(&t[t.len() - 8..], &MAGIC.to_le_bytes());
    }

    fn get_varint(b: &[u8], pos: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[*pos];
            *pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    /// (shared, key) of every entry of a block, plus its restart array.
    fn parse_block(block: &[u8]) -> (Vec<(u64, Vec<u8>)>, Vec<u32>) {
        let n = u32::from_le_bytes(block[block.len() - 4..].try_into().unwrap()) as usize;
        let restart_off = block.len() - 4 * (n + 1);
        let restarts = (0..n)
            .map(|i| u32::from_le_bytes(block[restart_off + 4 * i..][..4].try_into().unwrap()))
            .collect();
        let mut pos = 0;
        let mut entries = Vec::new();
        let mut key: Vec<u8> = Vec::new();
        while pos < restart_off {
            let shared = get_varint(block, &mut pos);
            let non_shared = get_varint(block, &mut pos) as usize;
            let vlen = get_varint(block, &mut pos) as usize;
            key.truncate(shared as usize);
            key.extend_from_slice(&block[pos..pos + non_shared]);
            pos += non_shared + vlen;
            entries.push((shared, key.clone()));
        }
        (entries, restarts)
    }

    #[test]
    fn multi_block_table_spec_10_5() {
        // docs/tf-bundle-format.md §10.5: 1 500 keys of ~280 bytes -> two data blocks; entries 0 and 16 restart;
        // the index key of block 0 is its full last key when it cannot be shortened.
        let mut b = TableBuilder::new(TableOptions::default());
        let keys: Vec<Vec<u8>> = (0..1500)
            .map(|i| format!("{i:05}{}", "k".repeat(269)).into_bytes())
            .collect();
        for k in &keys {
            b.add(k, &[7u8; 5]).unwrap();
        }
        let t = b.finish();
        let footer = &t[t.len() - FOOTER_LEN as usize..];
        let mut pos = 0;
        let _meta_off = get_varint(footer, &mut pos);
        let _meta_size = get_varint(footer, &mut pos);
        let index_off = get_varint(footer, &mut pos) as usize;
        let index_size = get_varint(footer, &mut pos) as usize;
        let (index_entries, index_restarts) = parse_block(&t[index_off..index_off + index_size]);
        assert!(index_entries.len() >= 2);
        assert!(index_entries.iter().all(|(shared, _)| *shared == 0));
        assert_eq!(index_restarts.len(), index_entries.len());
        let first_block_size = {
            // handle value of index entry 0 is the varint pair right after its key
            let blk = &t[index_off..index_off + index_size];
            let mut p = 0;
            get_varint(blk, &mut p);
            let ks = get_varint(blk, &mut p) as usize;
            get_varint(blk, &mut p);
            p += ks;
            assert_eq!(get_varint(blk, &mut p), 0);
            get_varint(blk, &mut p) as usize
        };
        assert!((BLOCK_SIZE - 400..BLOCK_SIZE + 400).contains(&first_block_size));
        let (entries, restarts) = parse_block(&t[..first_block_size]);
        for (i, (shared, key)) in entries.iter().enumerate() {
            assert_eq!(*shared == 0, i % 16 == 0, "entry {i}");
            assert_eq!(key, &keys[i]);
        }
        assert_eq!(restarts.len(), entries.len().div_ceil(16));
        // "...00913" vs "...00914" style neighbours: the separator is the full last key.
        let last = &entries.last().unwrap().1;
        assert_eq!(&index_entries[0].1, last);
        assert_eq!(index_entries.last().unwrap().1, b"1");
        assert_eq!(index_entries.len(), 2);
    }
}
