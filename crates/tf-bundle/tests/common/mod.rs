//! Helpers to build bundles and tables in memory for tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
#![allow(dead_code)]

use prost::Message;
use tf_bundle::proto::{
    tensor_shape_proto::Dim, BundleEntryProto, BundleHeaderProto, TensorShapeProto, VersionDef,
};
use tf_bundle::table::builder::{TableBuilder, TableOptions};
use tf_bundle::{crc, varint};

pub fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn shape(dims: &[i64]) -> Option<TensorShapeProto> {
    Some(TensorShapeProto {
        dim: dims
            .iter()
            .map(|&size| Dim {
                size,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    })
}

pub fn header(num_shards: i32, endianness: i32) -> BundleHeaderProto {
    BundleHeaderProto {
        num_shards,
        endianness,
        version: Some(VersionDef {
            producer: 1,
            min_consumer: 0,
            bad_consumers: vec![],
        }),
    }
}

/// A numeric entry for `payload` placed at `offset` of shard `shard`.
pub fn entry(
    dtype: i32,
    dims: &[i64],
    shard: i32,
    offset: i64,
    payload: &[u8],
) -> BundleEntryProto {
    BundleEntryProto {
        dtype,
        shape: shape(dims),
        shard_id: shard,
        offset,
        size: payload.len() as i64,
        crc32c: crc::mask(crc::crc32c(payload)),
        slices: vec![],
    }
}

/// A `.index` table from a header and sorted entries.
pub fn index(
    h: &BundleHeaderProto,
    entries: &[(Vec<u8>, BundleEntryProto)],
    opts: TableOptions,
) -> Vec<u8> {
    let mut t = TableBuilder::new(opts);
    t.add(b"", &h.encode_to_vec()).unwrap();
    for (k, e) in entries {
        t.add(k, &e.encode_to_vec()).unwrap();
    }
    t.finish()
}

/// A table with one data block holding `entries` exactly as given (no order checks, no
/// prefix compression, every entry a restart): for building invalid tables.
pub fn raw_table(entries: &[(&[u8], Vec<u8>)]) -> Vec<u8> {
    let mut block = Vec::new();
    let mut restarts = Vec::new();
    for (k, v) in entries {
        restarts.push(block.len() as u32);
        varint::encode_u64(0, &mut block);
        varint::encode_u64(k.len() as u64, &mut block);
        varint::encode_u64(v.len() as u64, &mut block);
        block.extend_from_slice(k);
        block.extend_from_slice(v);
    }
    if restarts.is_empty() {
        restarts.push(0);
    }
    for r in &restarts {
        block.extend_from_slice(&r.to_le_bytes());
    }
    block.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
    let mut out = Vec::new();
    let push_block = |out: &mut Vec<u8>, b: &[u8]| -> (u64, u64) {
        let off = out.len() as u64;
        out.extend_from_slice(b);
        let c = crc::extend(crc::crc32c(b), &[0]);
        out.push(0);
        out.extend_from_slice(&crc::mask(c).to_le_bytes());
        (off, b.len() as u64)
    };
    let data = push_block(&mut out, &block);
    let meta = push_block(&mut out, &[0, 0, 0, 0, 1, 0, 0, 0]);
    let mut ib = Vec::new();
    varint::encode_u64(0, &mut ib);
    varint::encode_u64(1, &mut ib);
    let mut hv = Vec::new();
    varint::encode_u64(data.0, &mut hv);
    varint::encode_u64(data.1, &mut hv);
    varint::encode_u64(hv.len() as u64, &mut ib);
    ib.push(0xff);
    ib.extend_from_slice(&hv);
    ib.extend_from_slice(&0u32.to_le_bytes());
    ib.extend_from_slice(&1u32.to_le_bytes());
    let idx = push_block(&mut out, &ib);
    let mut footer = Vec::new();
    varint::encode_u64(meta.0, &mut footer);
    varint::encode_u64(meta.1, &mut footer);
    varint::encode_u64(idx.0, &mut footer);
    varint::encode_u64(idx.1, &mut footer);
    footer.resize(40, 0);
    footer.extend_from_slice(&0xdb47_7524_8b80_fb57u64.to_le_bytes());
    out.extend_from_slice(&footer);
    out
}

/// A `DT_STRING` payload and its masked entry CRC (docs/tf-bundle-format.md §3.7), little- or big-endian.
pub fn string_payload(strings: &[&[u8]], big: bool) -> (Vec<u8>, u32) {
    let mut out = Vec::new();
    let mut c = 0u32;
    for s in strings {
        varint::encode_u64(s.len() as u64, &mut out);
        let l = s.len() as u32;
        c = crc::extend(
            c,
            &if big {
                l.to_be_bytes()
            } else {
                l.to_le_bytes()
            },
        );
    }
    let lc = crc::mask(c);
    let lcb = if big {
        lc.to_be_bytes()
    } else {
        lc.to_le_bytes()
    };
    out.extend_from_slice(&lcb);
    c = crc::extend(c, &lcb);
    for s in strings {
        out.extend_from_slice(s);
        c = crc::extend(c, s);
    }
    (out, crc::mask(c))
}
