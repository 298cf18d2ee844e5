//! Hostile inputs (issue 6), one test each: huge shapes, sizes and offsets; offset + size
//! overflow; `num_shards` in the millions; enormous and deeply nested protobufs; block handles
//! outside the file; restart arrays out of range; string lengths beyond the entry; snappy
//! blocks that declare huge lengths; slices that share bytes.
//!
//! Every case must give an error (never a panic, never a value) and must stay within a heap
//! budget: the global allocator is `cap::Cap`, and each case runs with a limit of what is
//! allocated plus [`BUDGET`] bytes (or a multiple of its input). An allocation beyond that
//! aborts this test binary with "memory allocation of N bytes failed". Cases are serialized
//! so the limit sees only one of them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use std::alloc::System;
use std::sync::Mutex;

use cap::Cap;
use prost::Message;
use tf_bundle::crc;
use tf_bundle::proto::{
    tensor_shape_proto::Dim, tensor_slice_proto::extent::HasLength, tensor_slice_proto::Extent,
    BundleEntryProto, BundleHeaderProto, SavedSlice, SavedSliceMeta, SavedTensorSliceMeta,
    SavedTensorSlices, TensorProto, TensorShapeProto, TensorSliceProto, VersionDef,
};
use tf_bundle::table::builder::{TableBuilder, TableOptions};
use tf_bundle::table::{self, BlockHandle, Table, FOOTER_LEN, MAGIC};
use tf_bundle::{bundle, ordered_code, Checkpoint, DType, ErrorKind};

use common::shape;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);
static SERIAL: Mutex<()> = Mutex::new(());

/// Extra live heap a case may use (its inputs are at most a few MiB and built beforehand).
const BUDGET: usize = 16 << 20;

/// Taken by every test for its whole run: the heap limit is global, so no other test may
/// allocate while a case runs under it.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` with at most `budget` more bytes of live heap than now (call with [`serial`] held).
fn bounded<T>(budget: usize, f: impl FnOnce() -> T) -> T {
    ALLOC
        .set_limit(ALLOC.allocated().saturating_add(budget))
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    ALLOC.set_limit(usize::MAX).unwrap();
    match r {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    }
}

// ------------------------------------------------------------------------------------------
// Building blocks

fn version() -> Option<VersionDef> {
    Some(VersionDef {
        producer: 1,
        min_consumer: 0,
        bad_consumers: vec![],
    })
}

fn header(num_shards: i32) -> Vec<u8> {
    BundleHeaderProto {
        num_shards,
        endianness: 0,
        version: version(),
    }
    .encode_to_vec()
}

fn entry(dtype: DType, dims: &[i64], offset: i64, size: i64, crc32c: u32) -> BundleEntryProto {
    BundleEntryProto {
        dtype: dtype.to_proto(),
        shape: shape(dims),
        shard_id: 0,
        offset,
        size,
        crc32c,
        slices: vec![],
    }
}

/// An `.index` (TF's table settings) with the given header and raw entries (sorted here).
fn index(header: &[u8], entries: &[(&[u8], Vec<u8>)]) -> Vec<u8> {
    let mut sorted: Vec<(&[u8], &Vec<u8>)> = entries.iter().map(|(k, v)| (*k, v)).collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut b = TableBuilder::new(TableOptions::default());
    b.add(b"", header).unwrap();
    for (k, v) in sorted {
        b.add(k, v).unwrap();
    }
    b.finish()
}

fn masked_crc(data: &[u8]) -> u32 {
    crc::mask(crc::crc32c(data))
}

/// A block's contents: entries without prefix sharing, one restart at 0.
fn block(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in entries {
        for n in [0, k.len(), v.len()] {
            tf_bundle::varint::encode_u64(n as u64, &mut out);
        }
        out.extend_from_slice(k);
        out.extend_from_slice(v);
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out
}

/// Appends a block with its trailer (type, masked CRC over contents + type); returns its
/// handle.
fn push_block(file: &mut Vec<u8>, contents: &[u8], block_type: u8) -> BlockHandle {
    let h = BlockHandle {
        offset: file.len() as u64,
        size: contents.len() as u64,
    };
    file.extend_from_slice(contents);
    let mut typed = contents.to_vec();
    typed.push(block_type);
    file.push(block_type);
    file.extend_from_slice(&masked_crc(&typed).to_le_bytes());
    h
}

fn push_footer(file: &mut Vec<u8>, meta: BlockHandle, index: BlockHandle) {
    let mut f = Vec::new();
    meta.encode(&mut f);
    index.encode(&mut f);
    f.resize(40, 0);
    f.extend_from_slice(&MAGIC.to_le_bytes());
    assert_eq!(f.len() as u64, FOOTER_LEN);
    file.extend_from_slice(&f);
}

/// A table file with one data block (`data` contents as given) and an index block pointing
/// at `data_handle` (or at the real data block when `None`).
fn table_file(data: &[u8], data_handle: Option<BlockHandle>) -> Vec<u8> {
    let mut file = Vec::new();
    let real = push_block(&mut file, data, 0);
    let meta = push_block(&mut file, &block(&[]), 0);
    let mut hv = Vec::new();
    data_handle.unwrap_or(real).encode(&mut hv);
    let idx = push_block(&mut file, &block(&[(b"\xff", &hv)]), 0);
    push_footer(&mut file, meta, idx);
    file
}

fn v2(index: &[u8], shards: Vec<Vec<u8>>) -> Result<Checkpoint, tf_bundle::Error> {
    Checkpoint::from_memory(index, shards)
}

/// Reads `name` every way and asserts each is an error; returns the `read` error's label.
fn all_reads_fail(c: &Checkpoint, name: &str) -> &'static str {
    let mut sink = Vec::new();
    let r = c.read_raw_to(name, &mut sink);
    assert!(r.is_err(), "{name}: read_raw_to gave {r:?}");
    assert!(
        sink.len() <= 1 << 20,
        "{name}: streamed {} bytes",
        sink.len()
    );
    assert!(
        c.read_bytes(name).is_err(),
        "{name}: read_bytes gave a value"
    );
    let e = c.read(name).expect_err("read gave a value");
    let shown = e.to_string();
    assert!(
        shown.contains(name),
        "{name}: the error does not name the tensor: {shown}"
    );
    e.kind().label()
}

// ------------------------------------------------------------------------------------------
// Cases

#[test]
fn the_heap_budget_is_enforced() {
    let _serial = serial();
    bounded(1 << 20, || {
        let mut v: Vec<u8> = Vec::new();
        assert!(
            v.try_reserve(2 << 20).is_err(),
            "2 MiB fit in a 1 MiB budget"
        );
        assert!(v.try_reserve(1 << 19).is_ok());
    });
    let mut v: Vec<u8> = Vec::new();
    assert!(v.try_reserve(2 << 20).is_ok(), "the budget was not lifted");
}

#[test]
fn huge_shapes_are_errors_without_allocation() {
    let _serial = serial();
    let one_gib_floats = 1i64 << 28;
    let cases: Vec<(&[u8], BundleEntryProto)> = vec![
        // valid shape, 2^62 elements, tiny size
        (
            b"a_2e62",
            entry(DType::Float32, &[1 << 31, 1 << 31], 0, 16, 0),
        ),
        // element count overflows i64
        (
            b"b_overflow",
            entry(DType::Float32, &[1 << 40, 1 << 40], 0, 16, 0),
        ),
        // 1 GiB of float32 claimed, 16 bytes in the shard
        (
            b"c_1gib",
            entry(DType::Float32, &[one_gib_floats], 0, one_gib_floats * 4, 0),
        ),
        // 2^40 strings in a 16-byte payload
        (b"d_strings", entry(DType::String, &[1 << 40], 0, 16, 0)),
        // negative dimension
        (b"e_negative", entry(DType::Float32, &[-4], 0, 16, 0)),
        // 255 dimensions of 1
        (b"f_rank255", entry(DType::Float32, &[1; 255], 0, 4, 0)),
    ];
    let entries: Vec<(&[u8], Vec<u8>)> =
        cases.iter().map(|(k, e)| (*k, e.encode_to_vec())).collect();
    let idx = index(&header(1), &entries);
    bounded(BUDGET, || {
        let c = v2(&idx, vec![vec![0u8; 16]]).unwrap();
        for (k, _) in &cases {
            let name = std::str::from_utf8(k).unwrap();
            let label = all_reads_fail(&c, name);
            assert!(["corrupt", "truncated"].contains(&label), "{name}: {label}");
        }
        let problems: Vec<&str> = c.problems().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(problems, ["b_overflow", "e_negative", "f_rank255"]);
        assert!(c.verify_all().len() >= cases.len());
    });
}

#[test]
fn huge_sizes_and_offsets_are_errors() {
    let _serial = serial();
    let big = 1i64 << 40;
    let cases: Vec<(&[u8], BundleEntryProto)> = vec![
        (b"a_tib", entry(DType::UInt8, &[big], 0, big, 0)),
        (b"b_far", entry(DType::Float32, &[1], big, 4, 0)),
        (b"c_max_offset", entry(DType::Float32, &[1], i64::MAX, 4, 0)),
        (
            b"d_max_both",
            entry(DType::UInt8, &[i64::MAX], i64::MAX, i64::MAX, 0),
        ),
        (b"e_negative_offset", entry(DType::Float32, &[1], -1, 4, 0)),
        (b"f_negative_size", entry(DType::Float32, &[1], 0, -4, 0)),
        (b"g_size_mismatch", entry(DType::Float32, &[1], 0, 8, 0)),
        (
            b"h_string_max",
            entry(DType::String, &[2], i64::MAX - 1, i64::MAX, 0),
        ),
    ];
    let entries: Vec<(&[u8], Vec<u8>)> =
        cases.iter().map(|(k, e)| (*k, e.encode_to_vec())).collect();
    let idx = index(&header(1), &entries);
    bounded(BUDGET, || {
        let c = v2(&idx, vec![vec![0u8; 64]]).unwrap();
        for (k, _) in &cases {
            all_reads_fail(&c, std::str::from_utf8(k).unwrap());
        }
    });
}

#[test]
fn offset_plus_size_overflow_in_block_handles() {
    let _serial = serial();
    for (offset, size) in [
        (u64::MAX, 10),
        (10, u64::MAX),
        (u64::MAX - 4, 0),
        (1, u64::MAX - 5),
    ] {
        let bad = BlockHandle { offset, size };
        let file = table_file(&block(&[(b"k", b"v")]), Some(bad));
        bounded(BUDGET, || {
            let t = Table::parse(&file);
            assert!(t.is_err(), "({offset}, {size}) parsed");
            assert!(table::read_block(&file, bad, "hostile").is_err());
            assert!(v2(&file, vec![]).is_err());
            assert!(Checkpoint::from_memory_v1(vec![file.clone()]).is_err());
        });
    }
}

#[test]
fn num_shards_in_the_millions() {
    let _serial = serial();
    for num_shards in [5_000_000, i32::MAX] {
        let mut e = entry(DType::Float32, &[1], 0, 4, masked_crc(&[0; 4]));
        e.shard_id = num_shards - 1;
        let idx = index(&header(num_shards), &[(b"w", e.encode_to_vec())]);
        bounded(BUDGET, || {
            let c = v2(&idx, vec![vec![0u8; 4]]).unwrap();
            assert_eq!(c.num_shards(), num_shards as u32);
            assert_eq!(all_reads_fail(&c, "w"), "missing_file");
        });
        // The same on disk: opening must not create or probe millions of shard files.
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("m");
        std::fs::write(dir.path().join("m.index"), &idx).unwrap();
        std::fs::write(
            tf_bundle::bundle::data_file_name(&prefix, 0, i64::from(num_shards)),
            [0u8; 4],
        )
        .unwrap();
        bounded(BUDGET, || {
            let t0 = std::time::Instant::now();
            let c = Checkpoint::open(&prefix).unwrap();
            let err = c.read("w").unwrap_err();
            assert_eq!(err.kind().label(), "missing_file", "{err}");
            assert!(err
                .to_string()
                .contains(&format!("m.data-{:05}-of-{num_shards:05}", num_shards - 1)));
            assert!(t0.elapsed().as_secs() < 5);
        });
    }
    // Negative shard counts and ids.
    let idx = index(&header(-1), &[]);
    assert!(v2(&idx, vec![]).is_err());
    let mut e = entry(DType::Float32, &[1], 0, 4, 0);
    e.shard_id = -3;
    let idx = index(&header(1), &[(b"w", e.encode_to_vec())]);
    let c = v2(&idx, vec![vec![0u8; 4]]).unwrap();
    all_reads_fail(&c, "w");
}

/// `depth` nested start-group tags of field 15, then their end-group tags.
fn nested_groups(depth: usize) -> Vec<u8> {
    let mut v = vec![(15 << 3) | 3; depth];
    v.extend(std::iter::repeat_n((15 << 3) | 4, depth));
    v
}

/// `depth` nested length-delimited messages (field 2 inside field 2 ...): TensorShapeProto's
/// `dim` field, then Dim's unknown field 2, and so on.
fn nested_messages(depth: usize) -> Vec<u8> {
    let mut v: Vec<u8> = Vec::new();
    for _ in 0..depth {
        let mut outer = vec![(2 << 3) | 2];
        tf_bundle::varint::encode_u64(v.len() as u64, &mut outer);
        outer.extend_from_slice(&v);
        v = outer;
    }
    v
}

#[test]
fn deeply_nested_protobufs() {
    let _serial = serial();
    for (what, bytes) in [
        ("groups", nested_groups(100_000)),
        ("messages", nested_messages(20_000)),
    ] {
        // as an entry
        let idx = index(&header(1), &[(b"deep", bytes.clone())]);
        let budget = BUDGET + 16 * idx.len();
        bounded(budget, || {
            let c = v2(&idx, vec![vec![]]).unwrap();
            if c.get("deep").is_some() {
                all_reads_fail(&c, "deep");
            } else {
                assert_eq!(c.problems().len(), 1, "{what}");
                assert!(c.read("deep").is_err());
            }
        });
        // as the header
        let idx = index(&bytes, &[]);
        bounded(budget, || {
            assert!(v2(&idx, vec![]).is_err(), "{what} header accepted");
        });
        // as a V1 meta record
        let mut b = TableBuilder::new(TableOptions::default());
        b.add(b"", &bytes).unwrap();
        let v1 = b.finish();
        bounded(budget, || {
            assert!(Checkpoint::from_memory_v1(vec![v1.clone()]).is_err());
        });
    }
}

#[test]
fn enormous_protobufs_stay_bounded() {
    let _serial = serial();
    // 1,000,000 dimensions (2 MB of entry): rejected by the rank limit, memory bounded by the
    // entry size.
    let mut e = entry(DType::Float32, &[], 0, 4, 0);
    e.shape = Some(TensorShapeProto {
        dim: vec![Dim::default(); 1_000_000],
        unknown_rank: false,
    });
    let huge_rank = e.encode_to_vec();
    // A 4 MB unknown field in an otherwise valid entry: skipped, the entry reads.
    let mut padded = entry(DType::Float32, &[1], 0, 4, masked_crc(&[1, 0, 0, 0])).encode_to_vec();
    tf_bundle::varint::encode_u64((99 << 3) | 2, &mut padded);
    tf_bundle::varint::encode_u64(4 << 20, &mut padded);
    padded.resize(padded.len() + (4 << 20), 0xab);
    // 200,000 slices of one tensor: more slice records than elements.
    let mut many = entry(DType::Float32, &[4], 0, 0, 0);
    many.slices = vec![
        TensorSliceProto {
            extent: vec![Extent {
                start: 0,
                has_length: Some(HasLength::Length(1)),
            }],
        };
        200_000
    ];
    let many = many.encode_to_vec();
    let idx = index(
        &header(1),
        &[(b"rank", huge_rank), (b"padded", padded), (b"many", many)],
    );
    bounded(BUDGET + 16 * idx.len(), || {
        let c = v2(&idx, vec![vec![1, 0, 0, 0]]).unwrap();
        assert!(c.read("rank").is_err());
        let t = c.read("padded").unwrap();
        assert_eq!(t.data, tf_bundle::TensorData::Bytes(vec![1, 0, 0, 0]));
        all_reads_fail(&c, "many");
    });
}

#[test]
fn block_handles_outside_the_file() {
    let _serial = serial();
    let data = block(&[(b"k", b"v")]);
    let len = table_file(&data, None).len() as u64;
    for bad in [
        BlockHandle {
            offset: len,
            size: 1,
        },
        BlockHandle {
            offset: 0,
            size: len,
        },
        BlockHandle {
            offset: len - 10,
            size: 20,
        },
        BlockHandle {
            offset: 1 << 40,
            size: 1 << 40,
        },
    ] {
        // data block handle in the index block
        let file = table_file(&data, Some(bad));
        bounded(BUDGET, || {
            let e = Table::parse(&file).unwrap_err();
            assert!(["truncated", "corrupt"].contains(&e.kind().label()), "{e}");
        });
        // footer handles (metaindex, index)
        let good = table_file(&data, None);
        let body = &good[..good.len() - FOOTER_LEN as usize];
        let real = Table::parse(&good).unwrap().footer();
        for (meta, idx) in [(bad, real.index), (real.metaindex, bad)] {
            let mut file = body.to_vec();
            push_footer(&mut file, meta, idx);
            bounded(BUDGET, || {
                assert!(Table::parse(&file).is_err());
                assert!(v2(&file, vec![]).is_err());
            });
        }
    }
    // A footer shorter than 48 bytes, and a wrong magic number.
    assert!(Table::parse(&vec![0u8; 47]).is_err());
    let mut good = table_file(&data, None);
    let n = good.len();
    good[n - 1] ^= 1;
    assert!(Table::parse(&good).is_err());
}

#[test]
fn restart_arrays_out_of_range() {
    let _serial = serial();
    let ok = block(&[(b"a", b"1"), (b"b", b"2")]);
    let n = ok.len();
    let with_restarts = |restarts: &[u32]| {
        let mut b = ok[..n - 8].to_vec();
        for r in restarts {
            b.extend_from_slice(&r.to_le_bytes());
        }
        b.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
        b
    };
    let region = (n - 8) as u32;
    let mut cases = vec![
        with_restarts(&[region]),
        with_restarts(&[0, region + 100]),
        with_restarts(&[0, u32::MAX]),
        with_restarts(&[5, 0]),
        with_restarts(&[1]),
        with_restarts(&[0, 2]), // not at an entry boundary
    ];
    // num_restarts far beyond the block
    let mut huge = ok.clone();
    huge[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    cases.push(huge);
    let mut big = ok.clone();
    big[n - 4..].copy_from_slice(&1000u32.to_le_bytes());
    cases.push(big);
    cases.push(vec![1, 0, 0]); // shorter than the restart count
    for (i, b) in cases.iter().enumerate() {
        bounded(BUDGET, || {
            assert!(
                table::parse_block(b, "hostile").is_err(),
                "case {i} parsed: {b:?}"
            );
            // The same block inside a table with valid CRCs: the check is not the CRC.
            let file = table_file(b, None);
            let t = Table::parse(&file).unwrap();
            assert!(t.entries(&file).is_err(), "case {i}: table entries parsed");
        });
    }
    // The index block itself with a bad restart array.
    let mut file = Vec::new();
    let meta = push_block(&mut file, &block(&[]), 0);
    let idx = push_block(&mut file, &cases[2], 0);
    push_footer(&mut file, meta, idx);
    assert!(Table::parse(&file).is_err());
}

/// A string payload: varint lengths, the masked length checksum, the bytes.
fn string_payload(lengths: &[u64], bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut c = 0u32;
    for &l in lengths {
        tf_bundle::varint::encode_u64(l, &mut out);
        c = match u32::try_from(l) {
            Ok(l32) => crc::extend(c, &l32.to_le_bytes()),
            Err(_) => crc::extend(c, &l.to_le_bytes()),
        };
    }
    out.extend_from_slice(&crc::mask(c).to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

#[test]
fn string_lengths_beyond_the_entry() {
    let _serial = serial();
    let cases: Vec<(u64, Vec<u8>)> = vec![
        (2, string_payload(&[1 << 62, 1], b"ab")),
        (2, string_payload(&[1000, 1], b"ab")),
        (1, string_payload(&[u64::MAX], b"ab")),
        (2, string_payload(&[1, 2], b"ab")),  // one byte short
        (2, string_payload(&[1, 0], b"abc")), // one byte over
        (3, string_payload(&[1, 1], b"ab")),  // fewer lengths than elements
        (u64::MAX, string_payload(&[1, 1], b"ab")),
        (1 << 40, string_payload(&[1, 1], b"ab")),
        (2, vec![0xff; 12]), // unterminated varints
    ];
    bounded(BUDGET, || {
        for (i, (n, p)) in cases.iter().enumerate() {
            for verify in [true, false] {
                let r = bundle::decode_string_tensor(p, *n, 0, false, verify);
                assert!(r.is_err(), "case {i} (verify {verify}) decoded: {r:?}");
            }
        }
    });
    // Through the reader, with a correct entry CRC so that only the lengths are wrong.
    let mut entries = Vec::new();
    let mut shard = Vec::new();
    let names: Vec<String> = (0..cases.len()).map(|i| format!("s{i}")).collect();
    for (i, (n, p)) in cases.iter().enumerate() {
        let dim = i64::try_from(*n).unwrap_or(i64::MAX);
        let e = entry(
            DType::String,
            &[dim],
            shard.len() as i64,
            p.len() as i64,
            masked_crc(p),
        );
        shard.extend_from_slice(p);
        entries.push((names[i].as_bytes(), e.encode_to_vec()));
    }
    let idx = index(&header(1), &entries);
    bounded(BUDGET, || {
        let c = v2(&idx, vec![shard.clone()]).unwrap();
        for name in &names {
            if c.get(name).is_some() {
                assert!(c.read(name).is_err(), "{name} read");
            }
        }
        assert!(c.verify_all().len() >= names.len());
    });
}

#[test]
fn snappy_blocks_declaring_huge_lengths() {
    let _serial = serial();
    for declared in [u32::MAX as u64, 1 << 30, 100_000] {
        let mut body = Vec::new();
        tf_bundle::varint::encode_u64(declared, &mut body);
        body.extend_from_slice(&[0x00, b'x']); // one literal byte
        bounded(BUDGET, || {
            assert!(table::decompress(&body, "hostile").is_err());
            let mut file = Vec::new();
            let data = push_block(&mut file, &body, table::SNAPPY);
            let meta = push_block(&mut file, &block(&[]), 0);
            let mut hv = Vec::new();
            data.encode(&mut hv);
            let idx = push_block(&mut file, &block(&[(b"\xff", &hv)]), 0);
            push_footer(&mut file, meta, idx);
            let t = Table::parse(&file).unwrap();
            assert!(t.entries(&file).is_err());
            // as the index block
            let mut file = Vec::new();
            let meta = push_block(&mut file, &block(&[]), 0);
            let idx = push_block(&mut file, &body, table::SNAPPY);
            push_footer(&mut file, meta, idx);
            assert!(Table::parse(&file).is_err());
        });
    }
}

#[test]
fn slices_sharing_bytes_cannot_amplify() {
    let _serial = serial();
    // A [rows, 1024] float32 tensor cut into `rows` one-row slices whose entries all point at
    // the same 4 KiB of the shard: a small file asking for rows * 4 KiB of output.
    let rows = 8192i64;
    let row: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    let crc32c = masked_crc(&row);
    let mut full = entry(DType::Float32, &[rows, 1024], 0, 0, 0);
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for r in 0..rows {
        let ext = vec![(r, 1), (0, -1)];
        full.slices.push(tf_bundle::slice::to_proto(&ext));
        let key = ordered_code::encode_slice_key(b"amp", &ext);
        entries.push((
            key,
            entry(DType::Float32, &[1, 1024], 0, 4096, crc32c).encode_to_vec(),
        ));
    }
    entries.push((b"amp".to_vec(), full.encode_to_vec()));
    let refs: Vec<(&[u8], Vec<u8>)> = entries
        .iter()
        .map(|(k, v)| (k.as_slice(), v.clone()))
        .collect();
    let idx = index(&header(1), &refs);
    // 32 MiB of output from ~0.5 MiB of files: must be refused, within a 16 MiB budget.
    bounded(BUDGET, || {
        let c = v2(&idx, vec![row.clone()]).unwrap();
        all_reads_fail(&c, "amp");
    });
}

#[test]
fn v1_huge_shapes_and_counts() {
    let _serial = serial();
    // Meta: a [2^40] float tensor in one full slice; the record holds one float.
    let ext = vec![(0i64, -1i64)];
    let meta = SavedTensorSlices {
        meta: Some(SavedTensorSliceMeta {
            tensor: vec![SavedSliceMeta {
                name: "v".into(),
                shape: shape(&[1 << 40]),
                r#type: DType::Float32.to_proto(),
                slice: vec![tf_bundle::slice::to_proto(&ext)],
            }],
            versions: version(),
        }),
        data: None,
    };
    let record = SavedTensorSlices {
        meta: None,
        data: Some(SavedSlice {
            name: "v".into(),
            slice: Some(tf_bundle::slice::to_proto(&ext)),
            data: Some(TensorProto {
                dtype: DType::Float32.to_proto(),
                float_val: vec![1.0],
                ..Default::default()
            }),
        }),
    };
    let mut b = TableBuilder::new(TableOptions::default());
    b.add(b"", &meta.encode_to_vec()).unwrap();
    b.add(
        &ordered_code::encode_slice_key(b"v", &ext),
        &record.encode_to_vec(),
    )
    .unwrap();
    let file = b.finish();
    bounded(BUDGET, || {
        let c = Checkpoint::from_memory_v1(vec![file.clone()]).unwrap();
        let e = c.read("v").unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Corrupt { .. } | ErrorKind::Slices(_)),
            "{e}"
        );
    });
}

/// Issue 6: no `unsafe` in the product outside the memory-map opt-in (`ckpt-io`'s
/// `MmapSource`, feature `mmap`). Scans every crate's `src/`.
#[test]
fn no_unsafe_outside_the_mmap_opt_in() {
    let _serial = serial();
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    let mut stack = vec![crates];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target" && n != "tests") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for (i, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    if ["unsafe {", "unsafe fn", "unsafe impl", "unsafe extern"]
                        .iter()
                        .any(|u| code.contains(u))
                    {
                        found.push(format!("{}:{}", p.display(), i + 1));
                    }
                }
            }
        }
    }
    // The memory map itself (ckpt-io), and the Python binding handing a mapped tensor to
    // numpy as a read-only view whose base object owns the map (its `mmap=True`).
    let allowed = ["ckpt-io/src/read.rs", "python/src/array.rs"];
    let found: Vec<String> = found.iter().map(|f| f.replace('\\', "/")).collect();
    assert_eq!(found.len(), allowed.len(), "unsafe code: {found:?}");
    for a in allowed {
        assert!(found.iter().any(|f| f.contains(a)), "{found:?}");
    }
    let io = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ckpt-io/src/read.rs"),
    )
    .unwrap();
    let at = io.find("unsafe {").unwrap();
    let before = &io[..at];
    let mmap_impl = before.rfind("impl MmapSource").unwrap();
    assert!(
        before[..mmap_impl]
            .trim_end()
            .ends_with("#[cfg(feature = \"mmap\")]"),
        "the unsafe block is not behind the mmap feature"
    );
}
