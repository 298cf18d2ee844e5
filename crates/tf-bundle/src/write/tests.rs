use super::*;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn entry(index: &[u8], key: &[u8]) -> BundleEntryProto {
    // the test bundles are single-block: decode entries from the first block directly
    let mut pos = 0;
    let mut last: Vec<u8> = Vec::new();
    loop {
        let (shared, n1) = varint(&index[pos..]);
        let (non_shared, n2) = varint(&index[pos + n1..]);
        let (vlen, n3) = varint(&index[pos + n1 + n2..]);
        pos += n1 + n2 + n3;
        last.truncate(shared as usize);
        last.extend_from_slice(&index[pos..pos + non_shared as usize]);
        pos += non_shared as usize;
        let value = &index[pos..pos + vlen as usize];
        pos += vlen as usize;
        if last == key {
            return BundleEntryProto::decode(value).unwrap();
        }
    }
}

fn varint(b: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate() {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    panic!("bad varint")
}

fn written(prefix: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        fs::read(index_file_name(prefix)).unwrap(),
        fs::read(data_file_name(prefix, 0, 1)).unwrap(),
    )
}

#[test]
fn tiny_bundle_is_byte_identical_to_tf_spec_10_4() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("t");
    let mut w = BundleWriter::create(&prefix).unwrap();
    w.add_bytes(
        "a",
        DType::Float32,
        &[2],
        &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40],
    )
    .unwrap();
    w.add_strings("s", &[2], &[b"xy".as_slice(), b""]).unwrap();
    w.finish().unwrap();
    let (index, data) = written(&prefix);
    assert_eq!(
        data,
        [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0x02, 0x00, 0x78, 0x27, 0x0b, 0x34, 0x78, 0x79]
    );
    let expected_hex = concat!(
        "000006",
        "08011a020801",
        "00010f",
        "61",
        "080112041202080228083559 3ce535",
        "000111",
        "73",
        "0807120412020802200828083 5c8d79cc9",
        "00000000",
        "01000000",
        "00",
        "5ae05f61",
        "0000000001000000",
        "00",
        "c0f2a1b0",
        "000102",
        "74",
        "0039",
        "00000000",
        "01000000",
        "00",
        "087f7258",
        "3e08",
        "4b0e"
    )
    .replace(' ', "");
    let mut expected = hex::decode(expected_hex).unwrap();
    expected.resize(142 - 8, 0);
    expected.extend_from_slice(&[0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
    assert_eq!(index.len(), 142);
    assert_eq!(index, expected);
    // no temporary file left
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn entry_sizes_and_crcs_spec_10_5_and_3_10() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("b");
    let mut w = BundleWriter::create(&prefix).unwrap();
    w.add_strings("str", &[3], &[b"".as_slice(), b"a", b"bcd"])
        .unwrap();
    w.add_strings::<&[u8]>("str_empty", &[0], &[]).unwrap();
    w.add_strings("str_scalar", &[], &[b"hello"]).unwrap();
    w.add_bytes("f32_empty", DType::Float32, &[0, 3], &[])
        .unwrap();
    w.add_bytes("scalar", DType::Float32, &[], &3.0f32.to_le_bytes())
        .unwrap();
    w.add_bytes(
        "f32",
        DType::Float32,
        &[2],
        &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40],
    )
    .unwrap();
    w.finish().unwrap();
    let (index, _) = written(&prefix);
    let cases: [(&str, i64, u32); 6] = [
        ("str", 11, 0x3f8e4275),
        ("str_empty", 4, 0x640cc1f6),
        ("str_scalar", 10, 0x29c0e0ec),
        ("f32_empty", 0, 0xa282ead8),
        ("scalar", 4, 0xc382d6ef),
        ("f32", 8, 0x35e53c59),
    ];
    for (key, size, crc) in cases {
        let e = entry(&index, key.as_bytes());
        assert_eq!((e.size, e.crc32c), (size, crc), "{key}");
    }
    // docs/tf-bundle-format.md §3.3: observed serialization of a float32 [2] entry at offset 0... here at offset 29
    let e = entry(&index, b"f32");
    assert_eq!(e.offset, 11 + 4 + 10 + 4);
    // scalar shape is present but empty (`12 00`), docs/tf-bundle-format.md §3.10, §11
    assert!(entry(&index, b"scalar")
        .encode_to_vec()
        .windows(2)
        .any(|w| w == [0x12, 0x00]));
    // zero-size numeric entry: `35 d8 ea 82 a2` and offset = end of data so far
    let e = entry(&index, b"f32_empty").encode_to_vec();
    assert!(e.ends_with(&[0x35, 0xd8, 0xea, 0x82, 0xa2]), "{e:02x?}");
}

#[test]
fn rejects_duplicates_bad_names_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("bad");
    let mut w = BundleWriter::create(&prefix).unwrap();
    w.add_bytes("x", DType::Int8, &[1], &[1]).unwrap();
    let labels = [
        w.add_bytes("x", DType::Int8, &[1], &[1]).unwrap_err(),
        w.add_bytes("", DType::Int8, &[1], &[1]).unwrap_err(),
        w.add_bytes("\0x", DType::Int8, &[1], &[1]).unwrap_err(),
        w.add_bytes("y", DType::Int16, &[2], &[1, 2]).unwrap_err(),
        w.add_bytes("y", DType::String, &[1], &[1]).unwrap_err(),
        w.add_bytes("y", DType::Int8, &[u64::MAX, 2], &[])
            .unwrap_err(),
        w.add_strings("y", &[2], &[b"a"]).unwrap_err(),
        w.add_raw_from("y", DType::Int32, &[2], &mut &[1u8, 2, 3][..], 8)
            .unwrap_err(),
    ]
    .map(|e| e.kind().label());
    assert_eq!(
        labels,
        [
            "duplicate_key",
            "invalid_name",
            "invalid_name",
            "size_mismatch",
            "dtype_mismatch",
            "invalid_shape",
            "size_mismatch",
            "size_mismatch"
        ]
    );
    let err = w.add_bytes("x", DType::Int8, &[1], &[1]).unwrap_err();
    assert!(err.to_string().contains("tensor 'x'"), "{err}");
    assert!(err.to_string().contains("bad.data-00000-of-00001"), "{err}");
}

#[test]
fn dropped_writer_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("gone");
    {
        let mut w = BundleWriter::create(&prefix).unwrap();
        w.add_bytes("x", DType::Int8, &[3], &[1, 2, 3]).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1); // the temp file
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn overwriting_a_checkpoint_replaces_both_files_and_leaves_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("ckpt");
    let mut w = BundleWriter::create(&prefix).unwrap();
    w.add_bytes("old", DType::Int8, &[2], &[1, 2]).unwrap();
    w.finish().unwrap();
    let mut w = BundleWriter::create(&prefix).unwrap();
    w.add_bytes("new", DType::Int8, &[3], &[7, 8, 9]).unwrap();
    w.finish().unwrap();
    let ckpt = crate::Checkpoint::open(&prefix).unwrap();
    let names: Vec<_> = ckpt.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["new"]);
    match ckpt.read("new").unwrap().data {
        crate::TensorData::Bytes(b) => assert_eq!(b, [7, 8, 9]),
        other => panic!("unexpected {other:?}"),
    }
    // Exactly the two final files: no `.tempstate*` left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn streaming_add_equals_add_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for (i, stream) in [false, true].into_iter().enumerate() {
        let prefix = dir.path().join(format!("s{i}"));
        let mut w = BundleWriter::create(&prefix).unwrap();
        if stream {
            let mut src = &bytes[..];
            w.add_raw_from("big", DType::UInt8, &[3, 1_000_000], &mut src, 3_000_000)
                .unwrap();
        } else {
            w.add_bytes("big", DType::UInt8, &[3, 1_000_000], &bytes)
                .unwrap();
        }
        w.finish().unwrap();
    }
    assert_eq!(
        written(&dir.path().join("s0")),
        written(&dir.path().join("s1"))
    );
    assert_eq!(written(&dir.path().join("s0")).1, bytes);
}

/// Decodes a TF string payload (docs/tf-bundle-format.md §3.7) for re-adding it.
fn split_strings(payload: &[u8], n: usize) -> Vec<Vec<u8>> {
    let mut pos = 0;
    let mut lens = Vec::new();
    for _ in 0..n {
        let (l, k) = varint(&payload[pos..]);
        lens.push(l as usize);
        pos += k;
    }
    pos += 4;
    lens.iter()
        .map(|&l| {
            let s = payload[pos..pos + l].to_vec();
            pos += l;
            s
        })
        .collect()
}

/// Re-writes every unpartitioned single-shard fixture bundle from its decoded entries (in data
/// order) and requires both files to be byte-identical to what TensorFlow wrote.
#[test]
fn rewriting_fixture_bundles_reproduces_tf_bytes() {
    let cases = [
        (
            "many_vars_3000/many.index_entries.json",
            "many_vars_3000/many",
        ),
        (
            "tf1_saver_dtypes/model.ckpt.index_entries.json",
            "tf1_saver_dtypes/model.ckpt",
        ),
        (
            "tf2_object_keras/expected/ckpt-1.index_entries.json",
            "tf2_object_keras/ckpt-1",
        ),
        (
            "tf2_object_keras/expected/ckpt-2.index_entries.json",
            "tf2_object_keras/ckpt-2",
        ),
        (
            "returnn_train_nativelstm/expected/network.003.index_entries.json",
            "returnn_train_nativelstm/net-model/network.003",
        ),
        (
            "returnn_pretrain/expected/network.pretrain.001.index_entries.json",
            "returnn_pretrain/net-model/network.pretrain.001",
        ),
        (
            "returnn_preload/network.001.index_entries.json",
            "returnn_preload/net-model/network.001",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (entries_file, prefix)) in cases.iter().enumerate() {
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(fixtures().join(entries_file)).unwrap()).unwrap();
        let tf_prefix = fixtures().join(prefix);
        let tf_index = fs::read(index_file_name(&tf_prefix)).unwrap();
        let tf_data = fs::read(data_file_name(&tf_prefix, 0, 1)).unwrap();
        let mut entries: Vec<&serde_json::Value> =
            json["entries"].as_array().unwrap().iter().collect();
        entries.sort_by_key(|e| (e["offset"].as_u64().unwrap(), e["size"].as_u64().unwrap()));
        let out = dir.path().join(format!("case{i}"));
        let mut w = BundleWriter::create(&out).unwrap();
        for e in entries {
            let name = e["key"].as_str().unwrap();
            let enum_name = e["dtype"].as_str().unwrap();
            let dtype = (1..=33)
                .filter_map(|v| DType::from_proto(v).ok())
                .find(|d| {
                    crate::proto::DataType::try_from(d.to_proto())
                        .unwrap()
                        .as_str_name()
                        == enum_name
                })
                .unwrap();
            let shape: Vec<u64> = e["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            let (off, size) = (
                e["offset"].as_u64().unwrap() as usize,
                e["size"].as_u64().unwrap() as usize,
            );
            let payload = &tf_data[off..off + size];
            if dtype == DType::String {
                let n = shape.iter().product::<u64>() as usize;
                w.add_strings(name, &shape, &split_strings(payload, n))
                    .unwrap();
            } else {
                w.add_bytes(name, dtype, &shape, payload).unwrap();
            }
        }
        w.finish().unwrap();
        let (index, data) = written(&out);
        assert!(data == tf_data, "{prefix}: data differs");
        assert!(
            index == tf_index,
            "{prefix}: index differs ({} vs {} bytes)",
            index.len(),
            tf_index.len()
        );
    }
}

mod round_trip {
    use super::*;
    use crate::dtype::ALL_DTYPES;
    use crate::{Checkpoint, TensorData};
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    struct T {
        name: String,
        dtype: DType,
        shape: Vec<u64>,
        data: TensorData,
    }

    fn tensor() -> impl Strategy<Value = T> {
        let name = prop_oneof![
            "[a-z][a-z0-9_/]{0,20}",
            "[a-zA-Z0-9_./:-]{1,40}\\.ATTRIBUTES/VARIABLE_VALUE",
            "\\PC{1,8}".prop_filter("no NUL first", |s: &String| !s.starts_with('\0')),
        ];
        let shape = prop::collection::vec(0u64..4, 0..4);
        (
            name,
            0..ALL_DTYPES.len(),
            shape,
            any::<u64>(),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..64),
        )
            .prop_map(|(name, d, shape, seed, pool)| {
                let dtype = ALL_DTYPES[d];
                let n = shape.iter().product::<u64>() as usize;
                let data = match dtype.element_size() {
                    Some(es) => TensorData::Bytes(
                        (0..n * es)
                            .map(|i| (seed.rotate_left(i as u32 % 64) ^ i as u64) as u8)
                            .collect(),
                    ),
                    None => TensorData::Strings(
                        (0..n)
                            .map(|i| pool.get(i % pool.len().max(1)).cloned().unwrap_or_default())
                            .collect(),
                    ),
                };
                T {
                    name,
                    dtype,
                    shape,
                    data,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
        /// Our writer -> our reader gives back every name, dtype, shape and value.
        #[test]
        fn writer_then_reader_gives_back_the_tensors(ts in prop::collection::vec(tensor(), 0..10)) {
            let mut ts = ts;
            ts.sort_by(|a, b| a.name.cmp(&b.name));
            ts.dedup_by(|a, b| a.name == b.name);
            let dir = tempfile::tempdir().unwrap();
            let prefix = dir.path().join("rt");
            let mut w = BundleWriter::create(&prefix).unwrap();
            // add in a scrambled order: the data file follows add order, the index key order
            for t in ts.iter().rev() {
                w.add(&t.name, t.dtype, &t.shape, &t.data).unwrap();
            }
            w.finish().unwrap();
            let c = Checkpoint::open(&prefix).unwrap();
            prop_assert_eq!(c.tensors().len(), ts.len());
            for t in &ts {
                let info = c.get(&t.name).unwrap();
                prop_assert_eq!(info.dtype, t.dtype);
                prop_assert_eq!(&info.shape, &t.shape);
                let got = c.read(&t.name).unwrap();
                prop_assert_eq!(&got.data, &t.data, "{}", t.name);
            }
        }
    }

    #[test]
    fn large_and_edge_case_tensors_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("big");
        let big: Vec<u8> = (0..(4u64 << 20)).map(|i| (i * 31 % 255) as u8).collect();
        let strings: Vec<Vec<u8>> = vec![
            Vec::new(),
            vec![0u8; 127],
            vec![0xffu8; 128],
            (0..=255u8).collect(),
            vec![b'x'; 20_000],
            vec![0u8; 0],
        ];
        let mut w = BundleWriter::create(&prefix).unwrap();
        w.add_raw_from(
            "big",
            DType::Float32,
            &[1024, 1024],
            &mut &big[..],
            big.len() as u64,
        )
        .unwrap();
        w.add_strings("strings", &[2, 3], &strings).unwrap();
        w.add_strings("long_scalar", &[], &[vec![b'y'; 17_000]])
            .unwrap();
        w.add_bytes("empty", DType::Int64, &[3, 0], &[]).unwrap();
        w.add_strings::<Vec<u8>>("empty_strings", &[0], &[])
            .unwrap();
        w.add_bytes("scalar", DType::Bool, &[], &[1]).unwrap();
        w.finish().unwrap();
        let c = Checkpoint::open(&prefix).unwrap();
        assert_eq!(c.read("big").unwrap().data, TensorData::Bytes(big));
        assert_eq!(
            c.read("strings").unwrap().data,
            TensorData::Strings(strings)
        );
        assert_eq!(
            c.read("long_scalar").unwrap().data,
            TensorData::Strings(vec![vec![b'y'; 17_000]])
        );
        assert_eq!(c.read("empty").unwrap().shape, [3, 0]);
        assert_eq!(
            c.read("empty_strings").unwrap().data,
            TensorData::Strings(vec![])
        );
        assert_eq!(c.read("scalar").unwrap().data, TensorData::Bytes(vec![1]));
        let mut sink = Vec::new();
        assert_eq!(c.read_raw_to("big", &mut sink).unwrap(), 4 << 20);
    }
}

#[test]
fn begin_raw_streams_and_checks_length() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..40u8).collect();
    for (i, raw) in [false, true].into_iter().enumerate() {
        let prefix = dir.path().join(format!("r{i}"));
        let mut w = BundleWriter::create(&prefix).unwrap();
        if raw {
            let mut s = w.begin_raw("t", DType::Int32, &[10]).unwrap();
            for c in bytes.chunks(7) {
                s.write_all(c).unwrap();
            }
            s.finish().unwrap();
            // too many bytes, too few bytes
            let mut s = w.begin_raw("u", DType::Int8, &[2]).unwrap();
            assert!(s.write_all(&[1, 2, 3]).is_err());
            s.write_all(&[1]).unwrap();
            assert_eq!(s.finish().unwrap_err().kind().label(), "size_mismatch");
            // an abandoned stream leaves unreferenced bytes; later offsets stay right
            w.add_bytes("v", DType::Int8, &[2], &[5, 6]).unwrap();
        } else {
            w.add_bytes("t", DType::Int32, &[10], &bytes).unwrap();
            w.add_bytes("v", DType::Int8, &[2], &[5, 6]).unwrap();
        }
        w.finish().unwrap();
    }
    let c0 = crate::Checkpoint::open(dir.path().join("r0")).unwrap();
    let c1 = crate::Checkpoint::open(dir.path().join("r1")).unwrap();
    assert_eq!(c1.tensors().len(), 2);
    for name in ["t", "v"] {
        assert_eq!(c0.read(name).unwrap(), c1.read(name).unwrap(), "{name}");
    }
    assert_eq!(entry(&written(&dir.path().join("r1")).0, b"v").offset, 41);
}
