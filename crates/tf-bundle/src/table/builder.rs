//! An in-memory table writer following TF's `TableBuilder` (spec 2.9): with the default
//! options it reproduces TF's `.index` and V1 files byte for byte. Used by tests (snappy
//! tables, V1 files, corrupted variants) and available to writers.

use super::{BlockHandle, MAGIC, NO_COMPRESSION, SNAPPY};
use crate::crc;
use crate::error::{Error, Result};
use crate::varint;

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
            block_size: 262_144,
            restart_interval: 16,
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
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
        }
        varint::encode_u64(shared as u64, &mut self.buf);
        varint::encode_u64((key.len() - shared) as u64, &mut self.buf);
        varint::encode_u64(value.len() as u64, &mut self.buf);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key = key.to_vec();
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

/// Builds a table in memory.
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
        self.last_key = key.to_vec();
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
        let mut contents = raw.to_vec();
        let mut block_type = NO_COMPRESSION;
        if self.opts.compression == SNAPPY {
            if let Ok(c) = snap::raw::Encoder::new().compress_vec(raw) {
                if c.len() < raw.len() - raw.len() / 8 {
                    contents = c;
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
        let mut footer = Vec::with_capacity(48);
        meta_handle.encode(&mut footer);
        index_handle.encode(&mut footer);
        footer.resize(40, 0);
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
    fn separators() {
        assert_eq!(short_successor(b"s"), b"t");
        assert_eq!(short_successor(b"u8"), b"v");
        assert_eq!(short_successor(b"\x00w"), b"\x01");
        assert_eq!(short_successor(b"\xff\xff"), b"\xff\xff");
        assert_eq!(shortest_separator(b"abc", b"abe"), b"abd");
        assert_eq!(
            shortest_separator(b"layer_00913/x", b"layer_00914/x"),
            b"layer_00913/x"
        );
        assert_eq!(shortest_separator(b"ab", b"abc"), b"ab");
    }
}
