//! TensorFlow's `TableBuilder` (LevelDB table format without filters), reproduced byte for byte
//! (spec §2.9): block size 256 KiB, restart interval 16 for data blocks and the metaindex, 1 for
//! the index block, no compression, the "huge entry gets its own block" rule, and leveldb's
//! bytewise `FindShortestSeparator` / `FindShortSuccessor`.
//!
//! The builder only produces bytes; it never checks key order itself (the caller, the bundle
//! writer, adds keys from a sorted map).

/// TF's table block size for bundles and V1 files (`table_options.h`; not LevelDB's 4 KiB).
pub(crate) const BLOCK_SIZE: usize = 262_144;
/// Restart interval of data blocks and the metaindex block.
pub(crate) const DATA_RESTART_INTERVAL: usize = 16;
/// Table footer magic (`0xdb4775248b80fb57`, stored little-endian).
pub(crate) const TABLE_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Fixed footer length.
pub(crate) const FOOTER_LEN: usize = 48;

/// `mask(c) = rotate_right(c, 15) + 0xA282EAD8` (spec §1.3; the reader's [`crate::crc::mask`]).
pub(crate) fn mask_crc(c: u32) -> u32 {
    crate::crc::mask(c)
}

/// Appends `v` as a base-128 varint (spec §1.1; the reader's [`crate::varint::encode_u64`]).
pub(crate) fn put_varint64(out: &mut Vec<u8>, v: u64) {
    crate::varint::encode_u64(v, out)
}

/// Number of bytes `put_varint64` writes for `v`.
pub(crate) fn varint_len(mut v: u64) -> u64 {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// One block under construction (LevelDB's `BlockBuilder`).
struct BlockBuilder {
    restart_interval: usize,
    buffer: Vec<u8>,
    restarts: Vec<u32>,
    counter: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            restart_interval,
            buffer: Vec::new(),
            restarts: vec![0],
            counter: 0,
            last_key: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    fn size_estimate(&self) -> usize {
        self.buffer.len() + 4 * self.restarts.len() + 4
    }

    fn add(&mut self, key: &[u8], value: &[u8]) {
        let mut shared = 0;
        if self.counter < self.restart_interval {
            shared = self
                .last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count();
        } else {
            // Offsets inside one block: a block never exceeds a few times BLOCK_SIZE plus one
            // entry, and the callers bound entries far below 4 GiB.
            self.restarts.push(self.buffer.len() as u32);
            self.counter = 0;
        }
        put_varint64(&mut self.buffer, shared as u64);
        put_varint64(&mut self.buffer, (key.len() - shared) as u64);
        put_varint64(&mut self.buffer, value.len() as u64);
        self.buffer.extend_from_slice(&key[shared..]);
        self.buffer.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.counter += 1;
    }

    /// Appends the restart array and count and returns the block contents; resets the builder.
    fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buffer);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        self.restarts = vec![0];
        self.counter = 0;
        self.last_key.clear();
        out
    }
}

/// leveldb `BytewiseComparator::FindShortestSeparator`.
pub(crate) fn shortest_separator(start: &[u8], limit: &[u8]) -> Vec<u8> {
    let min_len = start.len().min(limit.len());
    let diff = start.iter().zip(limit).take_while(|(a, b)| a == b).count();
    if diff < min_len {
        let b = start[diff];
        if b < 0xff && b + 1 < limit[diff] {
            let mut s = start[..=diff].to_vec();
            s[diff] = b + 1;
            return s;
        }
    }
    start.to_vec()
}

/// leveldb `BytewiseComparator::FindShortSuccessor`.
pub(crate) fn short_successor(key: &[u8]) -> Vec<u8> {
    match key.iter().position(|&b| b != 0xff) {
        Some(i) => {
            let mut s = key[..=i].to_vec();
            s[i] += 1;
            s
        }
        None => key.to_vec(),
    }
}

/// Builds a whole table in memory (an `.index` holds only small protos).
pub(crate) struct TableBuilder {
    out: Vec<u8>,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    pending_handle: Option<(u64, u64)>,
    last_key: Vec<u8>,
    num_entries: u64,
}

impl TableBuilder {
    pub(crate) fn new() -> Self {
        TableBuilder {
            out: Vec::new(),
            data_block: BlockBuilder::new(DATA_RESTART_INTERVAL),
            index_block: BlockBuilder::new(1),
            pending_handle: None,
            last_key: Vec::new(),
            num_entries: 0,
        }
    }

    /// Adds one entry; keys must be added in strictly increasing bytewise order.
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        if self.num_entries > 0 && key.len() + value.len() >= 2 * BLOCK_SIZE {
            self.flush();
        }
        if let Some(handle) = self.pending_handle.take() {
            let sep = shortest_separator(&self.last_key, key);
            self.index_block.add(&sep, &encode_handle(handle));
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.num_entries += 1;
        self.data_block.add(key, value);
        if self.data_block.size_estimate() >= BLOCK_SIZE {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.data_block.is_empty() {
            return;
        }
        let contents = self.data_block.finish();
        self.pending_handle = Some(self.write_block(&contents));
    }

    fn write_block(&mut self, contents: &[u8]) -> (u64, u64) {
        let handle = (self.out.len() as u64, contents.len() as u64);
        self.out.extend_from_slice(contents);
        let block_type = 0u8;
        let crc = crc32c::crc32c_append(crc32c::crc32c(contents), &[block_type]);
        self.out.push(block_type);
        self.out.extend_from_slice(&mask_crc(crc).to_le_bytes());
        handle
    }

    /// Flushes the last block, writes the metaindex, index block and footer; returns the file.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.flush();
        let meta = BlockBuilder::new(DATA_RESTART_INTERVAL).finish();
        let meta_handle = self.write_block(&meta);
        if let Some(handle) = self.pending_handle.take() {
            let succ = short_successor(&self.last_key);
            self.index_block.add(&succ, &encode_handle(handle));
        }
        let index = self.index_block.finish();
        let index_handle = self.write_block(&index);
        let mut footer = encode_handle(meta_handle);
        footer.extend_from_slice(&encode_handle(index_handle));
        footer.resize(FOOTER_LEN - 8, 0);
        footer.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
        self.out.extend_from_slice(&footer);
        self.out
    }
}

fn encode_handle((offset, size): (u64, u64)) -> Vec<u8> {
    let mut v = Vec::with_capacity(20);
    put_varint64(&mut v, offset);
    put_varint64(&mut v, size);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_crc_vectors_spec_10_1() {
        let cases: [(&[u8], u32); 4] = [
            (b"", 0xa282ead8),
            (b"123456789", 0xc78ab0e5),
            (b"a", 0x28e46e78),
            (b"hello", 0x191c1fbb),
        ];
        for (input, masked) in cases {
            assert_eq!(mask_crc(crc32c::crc32c(input)), masked, "{input:?}");
        }
        assert_eq!(mask_crc(crc32c::crc32c(&[0u8; 32])), 0x0fd7fffa);
        let seq: Vec<u8> = (0u8..32).collect();
        assert_eq!(mask_crc(crc32c::crc32c(&seq)), 0x951f7892);
        assert_eq!(
            mask_crc(crc32c::crc32c(&[0, 0, 0, 0, 1, 0, 0, 0, 0])),
            0xb0a1f2c0
        );
    }

    #[test]
    fn varint_vectors_spec_10_2() {
        let cases: [(u64, &[u8]); 11] = [
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (16383, &[0xff, 0x7f]),
            (16384, &[0x80, 0x80, 0x01]),
            (u32::MAX as u64, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
            (1 << 32, &[0x80, 0x80, 0x80, 0x80, 0x10]),
            (
                1 << 63,
                &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
            ),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for (v, bytes) in cases {
            let mut out = Vec::new();
            put_varint64(&mut out, v);
            assert_eq!(out, bytes, "{v}");
            assert_eq!(varint_len(v), bytes.len() as u64);
        }
    }

    #[test]
    fn separators_and_successors_spec_2_9() {
        assert_eq!(short_successor(b"s"), b"t");
        assert_eq!(short_successor(b"u8"), b"v");
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
        let t = TableBuilder::new().finish();
        // metaindex (8 + 5), empty index (8 + 5), footer 48
        assert_eq!(t.len(), 13 + 13 + 48);
        assert_eq!(&t[..8], &[0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&t[8..13], &[0, 0xc0, 0xf2, 0xa1, 0xb0]);
        assert_eq!(&t[t.len() - 8..], &TABLE_MAGIC.to_le_bytes());
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
        // spec 10.5: 1 500 keys of ~280 bytes -> two data blocks; entries 0 and 16 restart;
        // the index key of block 0 is its full last key when it cannot be shortened.
        let mut b = TableBuilder::new();
        let keys: Vec<Vec<u8>> = (0..1500)
            .map(|i| format!("{i:05}{}", "k".repeat(269)).into_bytes())
            .collect();
        for k in &keys {
            b.add(k, &[7u8; 5]);
        }
        let t = b.finish();
        let footer = &t[t.len() - FOOTER_LEN..];
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
