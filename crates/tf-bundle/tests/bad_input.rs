//! Bad and unusual input: corrupted, truncated, missing, hostile, snappy-compressed and
//! big-endian bundles. Every case is an error naming the file and key, never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use prost::Message;
use tf_bundle::proto::{BundleEntryProto, BundleHeaderProto, VersionDef};
use tf_bundle::table::builder::TableOptions;
use tf_bundle::table::{Table, SNAPPY};
use tf_bundle::{slice, Checkpoint, DType, ErrorKind, TensorData};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn load(case: &str, prefix: &str, shards: u32) -> (Vec<u8>, Vec<Vec<u8>>) {
    let d = fixtures().join(case);
    let index = std::fs::read(d.join(format!("{prefix}.index"))).unwrap();
    let data = (0..shards)
        .map(|i| std::fs::read(d.join(format!("{prefix}.data-{i:05}-of-{shards:05}"))).unwrap())
        .collect();
    (index, data)
}

fn read_all(ck: &Checkpoint) -> Vec<tf_bundle::Error> {
    ck.verify_all()
}

#[test]
fn flipped_byte_in_tensor_data_is_a_checksum_error_naming_the_tensor() {
    let (index, data) = load("tf1_saver_dtypes", "model.ckpt", 1);
    let ck = Checkpoint::from_memory(&index, data.clone()).unwrap();
    assert!(read_all(&ck).is_empty());
    let mut checked = 0;
    for e in ck.bundle().unwrap().raw_entries() {
        let entry = e.entry.as_ref().unwrap();
        if entry.size == 0 {
            continue;
        }
        let name = String::from_utf8(e.key.clone()).unwrap();
        let (off, size) = (entry.offset as usize, entry.size as usize);
        for pos in [off, off + size / 2, off + size - 1] {
            let mut bad = data[0].clone();
            bad[pos] ^= 0x20;
            let ck = Checkpoint::from_memory(&index, vec![bad]).unwrap();
            let err = ck.read(&name).unwrap_err();
            assert_eq!(err.key(), Some(name.as_str()), "{err}");
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::Checksum { .. } | ErrorKind::Corrupt { .. }
                ),
                "{name} at {pos}: {err}"
            );
            assert!(err.to_string().contains("data-00000-of-00001"), "{err}");
            if entry.dtype != 7 {
                assert!(matches!(err.kind(), ErrorKind::Checksum { .. }), "{err}");
            }
            // The other tensors still read.
            assert_eq!(read_all(&ck).len(), 1, "{name}");
            checked += 1;
        }
    }
    assert!(checked >= 100, "{checked}");
}

#[test]
fn flipped_byte_in_index_is_an_error_never_a_panic() {
    for (case, prefix) in [
        ("tf1_partitioned_slices", "partitioned.ckpt"),
        ("rawop_exotic_dtypes", "raw_savev2"),
    ] {
        let (index, data) = load(case, prefix, 1);
        let footer = index.len() - 48;
        for pos in 0..index.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = index.clone();
                bad[pos] ^= flip;
                match Checkpoint::from_memory(&bad, data.clone()) {
                    Err(e) => {
                        assert!(e.path().is_some(), "{e}");
                    }
                    Ok(ck) => {
                        // Only footer bytes TF ignores (padding, handle bytes that still
                        // decode to the same blocks) may go unnoticed.
                        assert!(
                            pos >= footer,
                            "{case}: flip {flip:#x} at {pos} not detected"
                        );
                        let _ = read_all(&ck);
                    }
                }
            }
        }
    }
}

#[test]
fn truncated_files_are_errors() {
    let (index, data) = load("tf1_sharded_3dev", "sharded.ckpt", 3);
    for len in 0..index.len() {
        let e = Checkpoint::from_memory(&index[..len], data.clone()).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Truncated { .. }
                    | ErrorKind::Corrupt { .. }
                    | ErrorKind::Checksum { .. }
            ),
            "{len}: {e}"
        );
    }
    let ck = Checkpoint::from_memory(&index, data.clone()).unwrap();
    assert!(read_all(&ck).is_empty());
    for shard in 0..3 {
        let mut d = data.clone();
        let keep = d[shard].len() / 2;
        d[shard].truncate(keep);
        let ck = Checkpoint::from_memory(&index, d).unwrap();
        let errs = read_all(&ck);
        assert!(!errs.is_empty(), "shard {shard}");
        for e in errs {
            assert!(e.key().is_some(), "{e}");
            assert!(
                e.to_string().contains(&format!("data-{shard:05}-of-00003")),
                "{e}"
            );
        }
    }
}

#[test]
fn missing_shard_names_the_missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures().join("tf1_sharded_3dev");
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_str().unwrap().to_string();
        if n.starts_with("sharded.ckpt") && !n.contains("00001-of") {
            std::fs::copy(&p, tmp.path().join(n)).unwrap();
        }
    }
    let ck = Checkpoint::open(tmp.path().join("sharded.ckpt")).unwrap(); // lazy: opens
    let errs = ck.verify_all();
    assert!(!errs.is_empty());
    let missing = tmp.path().join("sharded.ckpt.data-00001-of-00003");
    for e in &errs {
        assert_eq!(e.kind(), &ErrorKind::MissingFile, "{e}");
        assert_eq!(e.path(), Some(missing.as_path()), "{e}");
        assert!(e.to_string().contains("data-00001-of-00003"), "{e}");
    }
    // Tensors in other shards still read.
    let ok = ck
        .tensors()
        .iter()
        .filter(|t| ck.read(&t.name).is_ok())
        .count();
    assert!(ok > 0);
}

/// A bundle of many similar tensors (compressible keys) with snappy blocks everywhere.
type Named = Vec<(String, Vec<u8>)>;

fn snappy_bundle() -> (Vec<u8>, Vec<u8>, Named) {
    let mut data = Vec::new();
    let mut entries = Vec::new();
    let mut want = Vec::new();
    for i in 0..200 {
        let name = format!("layer_{i:04}/some/rather/long/and/repetitive/variable/name/kernel");
        let payload: Vec<u8> = (0..12)
            .flat_map(|j| ((i * 12 + j) as f32).to_le_bytes())
            .collect();
        entries.push((
            name.clone().into_bytes(),
            entry(1, &[3, 4], 0, data.len() as i64, &payload),
        ));
        data.extend_from_slice(&payload);
        want.push((name, payload));
    }
    let opts = TableOptions {
        block_size: 4096,
        restart_interval: 16,
        compression: SNAPPY,
    };
    (index(&header(1, 0), &entries, opts), data, want)
}

#[test]
fn snappy_blocks_anywhere_are_read() {
    let (idx, data, want) = snappy_bundle();
    let table = Table::parse(&idx).unwrap();
    assert!(table.num_data_blocks() > 3);
    // Every block, the index block included, is stored compressed (type byte 1).
    let ih = table.footer().index;
    assert_eq!(idx[(ih.offset + ih.size) as usize], SNAPPY, "index block");
    for (_, h) in table.index() {
        assert_eq!(idx[(h.offset + h.size) as usize], SNAPPY, "data block");
    }
    let ck = Checkpoint::from_memory(&idx, vec![data]).unwrap();
    assert_eq!(ck.tensors().len(), 200);
    for (name, payload) in want {
        assert_eq!(ck.read(&name).unwrap().data, TensorData::Bytes(payload));
    }
}

#[test]
fn corrupted_snappy_block_with_valid_crc_is_an_error() {
    let (idx, data, _) = snappy_bundle();
    let table = Table::parse(&idx).unwrap();
    let h = table.index()[1].1;
    for pos in 0..h.size as usize {
        let mut bad = idx.clone();
        let at = h.offset as usize + pos;
        bad[at] ^= 0x55;
        // Re-seal the block with a correct CRC so the snappy decoder sees the damage.
        let end = (h.offset + h.size) as usize;
        let c = tf_bundle::crc::extend(
            tf_bundle::crc::crc32c(&bad[h.offset as usize..end]),
            &[SNAPPY],
        );
        bad[end + 1..end + 5].copy_from_slice(&tf_bundle::crc::mask(c).to_le_bytes());
        if let Ok(ck) = Checkpoint::from_memory(&bad, vec![data.clone()]) {
            let _ = ck.verify_all();
        }
    }
    // A declared length far beyond what the bytes can expand to is refused up front.
    let e =
        tf_bundle::table::decompress(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00], "test").unwrap_err();
    assert!(e.to_string().contains("corrupted compressed block"), "{e}");
}

#[test]
fn big_endian_bundle_is_swapped_to_little_endian() {
    let f32s = [1.0f32, -2.5, 3.25];
    let i16s = [1i16, -2, 300];
    let c64 = [(1.0f32, 2.0f32)];
    let be_f32: Vec<u8> = f32s.iter().flat_map(|v| v.to_be_bytes()).collect();
    let be_i16: Vec<u8> = i16s.iter().flat_map(|v| v.to_be_bytes()).collect();
    let be_c64: Vec<u8> = c64
        .iter()
        .flat_map(|(r, i)| r.to_be_bytes().into_iter().chain(i.to_be_bytes()))
        .collect();
    let bools = vec![1u8, 0];
    let (strs, scrc) = string_payload(&[b"ab", b"", b"xyz"], true);
    let mut data = Vec::new();
    let mut entries = Vec::new();
    for (name, dtype, dims, payload) in [
        ("b", 10, vec![2], bools.clone()),
        ("c", 8, vec![1], be_c64),
        ("f", 1, vec![3], be_f32),
        ("i", 5, vec![3], be_i16),
    ] {
        entries.push((
            name.as_bytes().to_vec(),
            entry(dtype, &dims, 0, data.len() as i64, &payload),
        ));
        data.extend_from_slice(&payload);
    }
    let mut s = entry(7, &[3], 0, data.len() as i64, &strs);
    s.crc32c = scrc;
    entries.push((b"s".to_vec(), s));
    data.extend_from_slice(&strs);
    let idx = index(&header(1, 1), &entries, TableOptions::default());
    let ck = Checkpoint::from_memory(&idx, vec![data.clone()]).unwrap();
    assert_eq!(ck.endianness().to_string(), "big");
    let le = |v: &[u8]| TensorData::Bytes(v.to_vec());
    assert_eq!(
        ck.read("f").unwrap().data,
        le(&f32s
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>())
    );
    assert_eq!(
        ck.read("i").unwrap().data,
        le(&i16s
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>())
    );
    assert_eq!(
        ck.read("c").unwrap().data,
        le(&[1.0f32.to_le_bytes(), 2.0f32.to_le_bytes()].concat())
    );
    assert_eq!(ck.read("b").unwrap().data, le(&bools));
    assert_eq!(
        ck.read("s").unwrap().data,
        TensorData::Strings(vec![b"ab".to_vec(), vec![], b"xyz".to_vec()])
    );
    let mut streamed = Vec::new();
    ck.read_raw_to("f", &mut streamed).unwrap();
    assert_eq!(TensorData::Bytes(streamed), ck.read("f").unwrap().data);
    // The same bytes under a little-endian header fail the string length checksum.
    let idx_le = index(&header(1, 0), &entries, TableOptions::default());
    let ck = Checkpoint::from_memory(&idx_le, vec![data]).unwrap();
    assert!(matches!(
        ck.read("s").unwrap_err().kind(),
        ErrorKind::Checksum { .. }
    ));
}

fn open_err(idx: &[u8]) -> tf_bundle::Error {
    Checkpoint::from_memory(idx, vec![vec![0u8; 64]]).unwrap_err()
}

#[test]
fn header_rules() {
    let hb = header(1, 0).encode_to_vec();
    let e = entry(1, &[1], 0, 0, &[0, 0, 0, 0]).encode_to_vec();
    // Missing header: first key is a tensor; empty table.
    let err = open_err(&raw_table(&[(b"a", e.clone())]));
    assert!(err.to_string().contains("missing header"), "{err}");
    let err = open_err(&raw_table(&[]));
    assert!(err.to_string().contains("missing header"), "{err}");
    // Header unparseable.
    let err = open_err(&raw_table(&[(b"", vec![0xff, 0xff])]));
    assert!(err.to_string().contains("unable to parse header"), "{err}");
    // Version rules with TF's wording.
    for (v, text) in [
        (
            VersionDef {
                producer: -1,
                min_consumer: 0,
                bad_consumers: vec![],
            },
            "below min producer 0",
        ),
        (
            VersionDef {
                producer: 1,
                min_consumer: 2,
                bad_consumers: vec![],
            },
            "min consumer version 2 above current version 1",
        ),
        (
            VersionDef {
                producer: 1,
                min_consumer: 0,
                bad_consumers: vec![3, 1],
            },
            "disallows consumer version 1",
        ),
    ] {
        let h = BundleHeaderProto {
            num_shards: 1,
            endianness: 0,
            version: Some(v),
        };
        let err = open_err(&raw_table(&[(b"", h.encode_to_vec())]));
        assert!(matches!(err.kind(), ErrorKind::Version(_)), "{err}");
        assert!(err.to_string().contains(text), "{err}");
    }
    // Pre-versioning bundles (no version) are fine.
    let h = BundleHeaderProto {
        num_shards: 1,
        endianness: 0,
        version: None,
    };
    assert!(Checkpoint::from_memory(&raw_table(&[(b"", h.encode_to_vec())]), vec![]).is_ok());
    // Endianness outside {0, 1}; num_shards 0 with data.
    let err = open_err(&raw_table(&[(b"", header(1, 2).encode_to_vec())]));
    assert!(err.to_string().contains("endianness"), "{err}");
    let err = open_err(&raw_table(&[
        (b"", header(0, 0).encode_to_vec()),
        (b"a", e.clone()),
    ]));
    assert!(err.to_string().contains("num_shards"), "{err}");
    // Keys out of order and duplicates.
    let err = open_err(&raw_table(&[
        (b"", hb.clone()),
        (b"b", e.clone()),
        (b"a", e.clone()),
    ]));
    assert!(err.to_string().contains("out of order"), "{err}");
    let err = open_err(&raw_table(&[
        (b"", hb.clone()),
        (b"a", e.clone()),
        (b"a", e.clone()),
    ]));
    assert!(err.to_string().contains("out of order"), "{err}");
    // A valid raw table opens.
    let ck =
        Checkpoint::from_memory(&raw_table(&[(b"", hb), (b"a", e)]), vec![vec![0; 4]]).unwrap();
    assert_eq!(ck.read("a").unwrap().data, TensorData::Bytes(vec![0; 4]));
}

#[test]
fn entry_rules() {
    let payload = [0u8; 8];
    let good = entry(1, &[2], 0, 0, &payload);
    let cases: Vec<(&str, BundleEntryProto, &str)> = vec![
        (
            "shard",
            BundleEntryProto {
                shard_id: 1,
                ..good.clone()
            },
            "shard_id 1",
        ),
        (
            "neg_shard",
            BundleEntryProto {
                shard_id: -1,
                ..good.clone()
            },
            "shard_id -1",
        ),
        (
            "past_eof",
            BundleEntryProto {
                offset: 4,
                ..good.clone()
            },
            "past the end",
        ),
        (
            "overflow",
            BundleEntryProto {
                offset: i64::MAX,
                ..good.clone()
            },
            "overflow",
        ),
        (
            "negative",
            BundleEntryProto {
                offset: -8,
                ..good.clone()
            },
            "negative",
        ),
        (
            "size",
            BundleEntryProto {
                size: 4,
                ..good.clone()
            },
            "expected size 8",
        ),
        (
            "huge_shape",
            BundleEntryProto {
                shape: shape(&[1 << 30, 1 << 30]),
                ..good.clone()
            },
            "invalid size",
        ),
    ];
    let mut entries: Vec<(Vec<u8>, BundleEntryProto)> = cases
        .iter()
        .map(|(k, e, _)| (k.as_bytes().to_vec(), e.clone()))
        .collect();
    entries.push((b"ok".to_vec(), good.clone()));
    // Entries that cannot be described at all: listed as problems.
    entries.push((
        b"p_dtype".to_vec(),
        BundleEntryProto {
            dtype: 20,
            ..good.clone()
        },
    ));
    // A DT_VARIANT entry is listed as opaque (not a problem); these bytes are no variant
    // payload, so checking it fails.
    entries.push((
        b"v_variant".to_vec(),
        BundleEntryProto {
            dtype: 21,
            ..good.clone()
        },
    ));
    entries.push((
        b"p_rank".to_vec(),
        BundleEntryProto {
            shape: Some(tf_bundle::proto::TensorShapeProto {
                dim: vec![],
                unknown_rank: true,
            }),
            ..good.clone()
        },
    ));
    entries.push((
        b"p_negdim".to_vec(),
        BundleEntryProto {
            shape: shape(&[-1]),
            ..good.clone()
        },
    ));
    entries.push((
        b"p_overflow".to_vec(),
        BundleEntryProto {
            shape: shape(&[1 << 62, 1 << 62]),
            ..good.clone()
        },
    ));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let idx = index(&header(1, 0), &entries, TableOptions::default());
    let ck = Checkpoint::from_memory(&idx, vec![payload.to_vec()]).unwrap();
    assert!(ck.read("ok").is_ok());
    for (k, _, text) in &cases {
        let err = ck.read(k).unwrap_err();
        assert_eq!(err.key(), Some(*k), "{err}");
        assert!(err.to_string().contains(text), "{k}: {err}");
    }
    let problems: Vec<&str> = ck.problems().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(problems, ["p_dtype", "p_negdim", "p_overflow", "p_rank"]);
    let err = ck.read("p_dtype").unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::UnsupportedDtype(20));
    assert!(err.to_string().contains("DT_RESOURCE"), "{err}");
    assert!(ck.get("p_dtype").is_none());
    assert_eq!(ck.opaque().len(), 1);
    assert_eq!(
        ck.read("v_variant").unwrap_err().kind().label(),
        "unsupported"
    );
    let verr = ck.check_opaque("v_variant").unwrap_err();
    assert!(
        matches!(verr.kind().label(), "corrupt" | "checksum"),
        "{verr}"
    );
    assert_eq!(ck.verify_all().len(), cases.len() + 4 + 1);
}

#[test]
fn hostile_string_counts_do_not_allocate() {
    let (payload, crc) = string_payload(&[b"a"], false);
    let e = BundleEntryProto {
        dtype: 7,
        shape: shape(&[1 << 40]),
        size: payload.len() as i64,
        crc32c: crc,
        ..Default::default()
    };
    let idx = index(
        &header(1, 0),
        &[(b"s".to_vec(), e)],
        TableOptions::default(),
    );
    let ck = Checkpoint::from_memory(&idx, vec![payload.clone()]).unwrap();
    assert!(ck.read("s").is_err());
    // Lengths that run past the payload.
    let bad = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0];
    assert!(tf_bundle::bundle::decode_string_tensor(&bad, 1, 0, false, true).is_err());
    assert!(tf_bundle::bundle::decode_string_tensor(&[], u64::MAX, 0, false, true).is_err());
}

/// Builds a partitioned tensor `name` of `dims` from `parts` (extents, shard) whose values
/// are the row-major index of each element (as f32), in `num_shards` shards.
fn partitioned(
    name: &str,
    dims: &[i64],
    parts: &[(Vec<(i64, i64)>, i32)],
    num_shards: i32,
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let full: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
    let mut shards = vec![Vec::new(); num_shards as usize];
    let mut entries = Vec::new();
    for (ext, shard) in parts {
        let region = slice::resolve(ext, &full).unwrap();
        let n = slice::region_elements(&region).unwrap() as usize;
        // Values: flat index in the full tensor.
        let mut vals = vec![0f32; n];
        let mut all: Vec<f32> = (0..full.iter().product::<u64>())
            .map(|i| i as f32)
            .collect();
        let mut idx = vec![0usize; n];
        for (i, v) in idx.iter_mut().enumerate() {
            *v = i;
        }
        // Extract the region with copy_region's inverse: copy each candidate through a scratch.
        let mut scratch = vec![-1f32; all.len()];
        let probe: Vec<f32> = (0..n).map(|i| i as f32).collect();
        slice::copy_region(&mut scratch, &full, &region, &probe, 1).unwrap();
        for (flat, &p) in scratch.iter().enumerate() {
            if p >= 0.0 {
                vals[p as usize] = all[flat];
            }
        }
        all.clear();
        let payload: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let dims_s: Vec<i64> = region.iter().map(|r| r.1 as i64).collect();
        let s = &mut shards[*shard as usize];
        let e = entry(1, &dims_s, *shard, s.len() as i64, &payload);
        s.extend_from_slice(&payload);
        entries.push((
            tf_bundle::ordered_code::encode_slice_key(name.as_bytes(), ext),
            e,
        ));
    }
    let full_entry = BundleEntryProto {
        dtype: 1,
        shape: shape(dims),
        slices: parts.iter().map(|(e, _)| slice::to_proto(e)).collect(),
        ..Default::default()
    };
    entries.push((name.as_bytes().to_vec(), full_entry));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    (
        index(&header(num_shards, 0), &entries, TableOptions::default()),
        shards,
    )
}

#[test]
fn partitioned_tensors_assemble_across_shards() {
    let parts = vec![
        (vec![(0, 2), (0, 3)], 1),
        (vec![(0, 2), (3, 3)], 0),
        (vec![(2, 3), (0, -1)], 2),
    ];
    let (idx, shards) = partitioned("w", &[5, 6], &parts, 3);
    let ck = Checkpoint::from_memory(&idx, shards).unwrap();
    assert_eq!(ck.tensors().len(), 1);
    assert!(ck.tensors()[0].sliced);
    let want: Vec<u8> = (0..30).flat_map(|i| (i as f32).to_le_bytes()).collect();
    assert_eq!(ck.read("w").unwrap().data, TensorData::Bytes(want.clone()));
    let mut out = Vec::new();
    ck.read_raw_to("w", &mut out).unwrap();
    assert_eq!(out, want);
}

#[test]
fn bad_slices_are_errors_naming_the_tensor() {
    type Parts = Vec<(Vec<(i64, i64)>, i32)>;
    let cases: Vec<(Parts, &str)> = vec![
        (
            vec![(vec![(0, 3), (0, -1)], 0), (vec![(2, 3), (0, -1)], 0)],
            "overlapping",
        ),
        (vec![(vec![(0, 2), (0, -1)], 0)], "sufficient"),
        (
            vec![(vec![(0, 2), (0, -1)], 0), (vec![(0, 2), (0, -1)], 0)],
            "overlapping",
        ),
    ];
    for (parts, text) in cases {
        // Build with unique keys only (a duplicated slice shares its key).
        let mut uniq = parts.clone();
        uniq.dedup();
        let (idx, shards) = partitioned("w", &[5, 6], &uniq, 1);
        let mut ck_idx = idx;
        if uniq.len() != parts.len() {
            // Re-encode the full entry with the duplicate slice list.
            let full = BundleEntryProto {
                dtype: 1,
                shape: shape(&[5, 6]),
                slices: parts.iter().map(|(e, _)| slice::to_proto(e)).collect(),
                ..Default::default()
            };
            let ck = Checkpoint::from_memory(&ck_idx, shards.clone()).unwrap();
            let mut entries: Vec<(Vec<u8>, BundleEntryProto)> = ck
                .bundle()
                .unwrap()
                .raw_entries()
                .iter()
                .map(|e| (e.key.clone(), e.entry.clone().unwrap()))
                .collect();
            for e in &mut entries {
                if e.0 == b"w" {
                    e.1 = full.clone();
                }
            }
            ck_idx = index(&header(1, 0), &entries, TableOptions::default());
        }
        let ck = Checkpoint::from_memory(&ck_idx, shards).unwrap();
        let err = ck.read("w").unwrap_err();
        assert_eq!(err.key(), Some("w"));
        assert!(err.to_string().contains(text), "{err}");
    }
    // A slice entry that is missing, or of the wrong dtype.
    let (idx, shards) = partitioned("w", &[4], &[(vec![(0, 2)], 0), (vec![(2, 2)], 0)], 1);
    let ck = Checkpoint::from_memory(&idx, shards.clone()).unwrap();
    let mut entries: Vec<(Vec<u8>, BundleEntryProto)> = ck
        .bundle()
        .unwrap()
        .raw_entries()
        .iter()
        .map(|e| (e.key.clone(), e.entry.clone().unwrap()))
        .collect();
    let mut wrong = entries.clone();
    wrong[0].1.dtype = 3;
    let ck = Checkpoint::from_memory(
        &index(&header(1, 0), &wrong, TableOptions::default()),
        shards.clone(),
    )
    .unwrap();
    let err = ck.read("w").unwrap_err();
    assert!(err.to_string().contains("dtype"), "{err}");
    entries.remove(0);
    let ck = Checkpoint::from_memory(
        &index(&header(1, 0), &entries, TableOptions::default()),
        shards,
    )
    .unwrap();
    let err = ck.read("w").unwrap_err();
    assert!(
        err.to_string().contains("not in the index") && err.to_string().contains("w[0,2]"),
        "{err}"
    );
}

#[test]
fn zero_size_and_scalar_tensors() {
    let (sp, scrc) = string_payload(&[], false);
    let mut s = entry(7, &[0], 0, 4, &sp);
    s.crc32c = scrc;
    let entries = vec![
        (b"e".to_vec(), entry(1, &[2, 0, 3], 0, 4, &[])),
        (b"s".to_vec(), s),
        (b"x".to_vec(), entry(1, &[], 0, 0, &3.0f32.to_le_bytes())),
    ];
    let mut data = 3.0f32.to_le_bytes().to_vec();
    data.extend_from_slice(&sp);
    let ck = Checkpoint::from_memory(
        &index(&header(1, 0), &entries, TableOptions::default()),
        vec![data],
    )
    .unwrap();
    assert_eq!(ck.read("e").unwrap().data, TensorData::Bytes(vec![]));
    assert_eq!(ck.read("s").unwrap().data, TensorData::Strings(vec![]));
    let x = ck.read("x").unwrap();
    assert_eq!(x.shape, Vec::<u64>::new());
    assert_eq!(x.dtype, DType::Float32);
    assert_eq!(ck.get("x").unwrap().num_elements(), Some(1));
    assert!(ck.read("nope").unwrap_err().kind() == &ErrorKind::KeyNotFound);
}

#[test]
fn non_utf8_keys_are_listed_lossily_and_still_read() {
    let (idx, shards) = partitioned("w\u{1}", &[4], &[(vec![(0, 2)], 0), (vec![(2, 2)], 0)], 1);
    // Rename the tensor to a non-UTF-8 key (slice keys are recomputed from the raw key).
    let ck = Checkpoint::from_memory(&idx, shards.clone()).unwrap();
    let mut entries: Vec<(Vec<u8>, BundleEntryProto)> = Vec::new();
    for e in ck.bundle().unwrap().raw_entries() {
        let key = if e.key == b"w\x01" {
            b"w\xff".to_vec()
        } else {
            let (_, ext) = tf_bundle::ordered_code::decode_slice_key(&e.key).unwrap();
            tf_bundle::ordered_code::encode_slice_key(b"w\xff", &ext)
        };
        entries.push((key, e.entry.clone().unwrap()));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let ck = Checkpoint::from_memory(
        &index(&header(1, 0), &entries, TableOptions::default()),
        shards,
    )
    .unwrap();
    assert_eq!(ck.tensors().len(), 1);
    let name = ck.tensors()[0].name.clone();
    assert_eq!(name, "w\u{fffd}");
    let want: Vec<u8> = (0..4).flat_map(|i| (i as f32).to_le_bytes()).collect();
    assert_eq!(ck.read(&name).unwrap().data, TensorData::Bytes(want));
}

#[test]
fn slices_sharing_bytes_cannot_demand_more_than_the_files_hold() {
    let (idx, shards) = partitioned("w", &[4], &[(vec![(0, 2)], 0), (vec![(2, 2)], 0)], 1);
    let ck = Checkpoint::from_memory(&idx, shards.clone()).unwrap();
    let mut entries: Vec<(Vec<u8>, BundleEntryProto)> = ck
        .bundle()
        .unwrap()
        .raw_entries()
        .iter()
        .map(|e| (e.key.clone(), e.entry.clone().unwrap()))
        .collect();
    // Both slice entries point at the first 8 bytes; the data file holds only those.
    let first = entries[0].1.clone();
    entries[1].1 = first;
    let data = vec![shards[0][..8].to_vec()];
    let ck = Checkpoint::from_memory(
        &index(&header(1, 0), &entries, TableOptions::default()),
        data,
    )
    .unwrap();
    let e = ck.read("w").unwrap_err();
    assert!(e.to_string().contains("claim 16 bytes"), "{e}");
}

#[test]
fn empty_payloads_need_no_data_file() {
    // An empty checkpoint (header only) and zero-size tensors read without any shard.
    let entries = vec![(b"e".to_vec(), entry(1, &[0], 0, 0, &[]))];
    let ck = Checkpoint::from_memory(
        &index(&header(1, 0), &entries, TableOptions::default()),
        vec![],
    )
    .unwrap();
    assert_eq!(ck.read("e").unwrap().data, TensorData::Bytes(vec![]));
    assert!(ck.verify_all().is_empty());
    let ck = Checkpoint::from_memory(&index(&header(1, 0), &[], TableOptions::default()), vec![])
        .unwrap();
    assert!(ck.tensors().is_empty());
}

#[test]
fn checkpoint_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Checkpoint>();
    check::<tf_bundle::Error>();
}

#[test]
fn partitioned_string_tensor_is_assembled_by_element() {
    // [3, 2] strings in two slices: rows 0..1 in shard 1, rows 1..3 in shard 0.
    let all: Vec<&[u8]> = vec![b"a", b"", b"ccc", b"\x00d", b"e", b"ffff"];
    let parts = [((0i64, 1i64), 1i32, &all[0..2]), ((1, 2), 0, &all[2..6])];
    let mut shards = vec![Vec::new(), Vec::new()];
    let mut entries = Vec::new();
    for ((start, len), shard, vals) in parts {
        let (payload, crc) = string_payload(vals, false);
        let s = &mut shards[shard as usize];
        let mut e = entry(7, &[len, 2], shard, s.len() as i64, &payload);
        e.crc32c = crc;
        s.extend_from_slice(&payload);
        let ext = vec![(start, len), (0, -1)];
        entries.push((tf_bundle::ordered_code::encode_slice_key(b"s", &ext), e));
    }
    entries.push((
        b"s".to_vec(),
        BundleEntryProto {
            dtype: 7,
            shape: shape(&[3, 2]),
            slices: vec![
                slice::to_proto(&[(0, 1), (0, -1)]),
                slice::to_proto(&[(1, 2), (0, -1)]),
            ],
            ..Default::default()
        },
    ));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let ck = Checkpoint::from_memory(
        &index(&header(2, 0), &entries, TableOptions::default()),
        shards,
    )
    .unwrap();
    let t = ck.read("s").unwrap();
    assert_eq!(
        t.data,
        TensorData::Strings(all.iter().map(|s| s.to_vec()).collect())
    );
    assert!(ck.read_raw_to("s", &mut Vec::new()).is_err());
}
