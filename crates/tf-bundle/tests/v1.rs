//! Legacy V1 checkpoints (docs/tf-bundle-format.md §5), built in memory from the facts of
//! docs/tf-bundle-format.md §10.5: keys, value bytes, the typed repeated fields, multi-file
//! slices, glob resolution.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use common::*;
use prost::Message;
use tf_bundle::proto::{
    SavedSlice, SavedSliceMeta, SavedTensorSliceMeta, SavedTensorSlices, TensorProto, VersionDef,
};
use tf_bundle::table::builder::{TableBuilder, TableOptions};
use tf_bundle::table::Table;
use tf_bundle::{ordered_code, slice, Checkpoint, DType, ErrorKind, TensorData};

struct V1Tensor {
    name: &'static str,
    dtype: DType,
    dims: Vec<i64>,
    slices: Vec<(Vec<(i64, i64)>, TensorProto)>,
}

fn v1_file(tensors: &[V1Tensor]) -> Vec<u8> {
    let meta = SavedTensorSliceMeta {
        tensor: tensors
            .iter()
            .map(|t| SavedSliceMeta {
                name: t.name.into(),
                shape: shape(&t.dims),
                r#type: t.dtype.to_proto(),
                slice: t.slices.iter().map(|(e, _)| slice::to_proto(e)).collect(),
            })
            .collect(),
        versions: Some(VersionDef {
            producer: 1,
            min_consumer: 0,
            bad_consumers: vec![],
        }),
    };
    let mut kv: Vec<(Vec<u8>, Vec<u8>)> = vec![(
        Vec::new(),
        SavedTensorSlices {
            meta: Some(meta),
            data: None,
        }
        .encode_to_vec(),
    )];
    for t in tensors {
        for (ext, proto) in &t.slices {
            let key = ordered_code::encode_slice_key(t.name.as_bytes(), ext);
            let v = SavedTensorSlices {
                meta: None,
                data: Some(SavedSlice {
                    name: t.name.into(),
                    slice: Some(slice::to_proto(ext)),
                    data: Some(proto.clone()),
                }),
            };
            kv.push((key, v.encode_to_vec()));
        }
    }
    kv.sort();
    let mut b = TableBuilder::new(TableOptions::default());
    for (k, v) in kv {
        b.add(&k, &v).unwrap();
    }
    b.finish()
}

fn spec_file() -> Vec<u8> {
    v1_file(&[
        V1Tensor {
            name: "n",
            dtype: DType::Int64,
            dims: vec![],
            slices: vec![(
                vec![],
                TensorProto {
                    int64_val: vec![5],
                    ..Default::default()
                },
            )],
        },
        V1Tensor {
            name: "s",
            dtype: DType::String,
            dims: vec![2],
            slices: vec![(
                vec![(0, -1)],
                TensorProto {
                    string_val: vec![b"ab".to_vec(), b"c".to_vec()],
                    ..Default::default()
                },
            )],
        },
        V1Tensor {
            name: "w",
            dtype: DType::Float32,
            dims: vec![2, 2],
            slices: vec![(
                vec![(0, -1), (0, -1)],
                TensorProto {
                    float_val: vec![1.0, 2.0, 3.0, 4.0],
                    ..Default::default()
                },
            )],
        },
    ])
}

#[test]
fn spec_10_5_v1_keys_and_values() {
    let f = spec_file();
    let t = Table::parse(&f).unwrap();
    let keys: Vec<Vec<u8>> = t.entries(&f).unwrap().into_iter().map(|e| e.0).collect();
    assert_eq!(
        keys,
        vec![
            vec![],
            unhex("00 6e 00 01 00"),
            unhex("00 73 00 01 01 01 80 7f"),
            unhex("00 77 00 01 01 02 80 7f 80 7f"),
        ]
    );
    assert_eq!(t.index()[0].0, vec![0x01]);
    let n = t.get(&f, &unhex("00 6e 00 01 00")).unwrap().unwrap();
    assert_eq!(n, unhex("12 0a 0a 01 6e 12 00 1a 03 52 01 05"));
    // The observed encodings of 5.2.
    let p = TensorProto {
        string_val: vec![b"ab".to_vec(), b"c".to_vec()],
        ..Default::default()
    };
    assert_eq!(p.encode_to_vec(), unhex("42 02 61 62 42 01 63"));

    let ck = Checkpoint::from_memory_v1(vec![f]).unwrap();
    assert_eq!(ck.format().to_string(), "v1");
    let names: Vec<_> = ck
        .tensors()
        .iter()
        .map(|t| (t.name.as_str(), t.dtype, t.sliced))
        .collect();
    assert_eq!(
        names,
        [
            ("n", DType::Int64, false),
            ("s", DType::String, false),
            ("w", DType::Float32, false)
        ]
    );
    assert_eq!(
        ck.read("n").unwrap().data,
        TensorData::Bytes(5i64.to_le_bytes().to_vec())
    );
    assert_eq!(
        ck.read("s").unwrap().data,
        TensorData::Strings(vec![b"ab".to_vec(), b"c".to_vec()])
    );
    let w: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(ck.read("w").unwrap().data, TensorData::Bytes(w));
}

#[test]
fn v1_typed_fields() {
    let t = |name, dtype, dims: Vec<i64>, p: TensorProto| V1Tensor {
        name,
        dtype,
        dims: dims.clone(),
        slices: vec![(dims.iter().map(|_| (0, -1)).collect(), p)],
    };
    let f = v1_file(&[
        t(
            "b",
            DType::Bool,
            vec![3],
            TensorProto {
                bool_val: vec![true, false, true],
                ..Default::default()
            },
        ),
        t(
            "c",
            DType::Complex64,
            vec![1],
            TensorProto {
                scomplex_val: vec![1.0, 2.0],
                ..Default::default()
            },
        ),
        t(
            "d",
            DType::Float64,
            vec![1],
            TensorProto {
                double_val: vec![0.5],
                ..Default::default()
            },
        ),
        t(
            "h",
            DType::Float16,
            vec![2],
            TensorProto {
                half_val: vec![15360, 49152],
                ..Default::default()
            },
        ),
        t(
            "i8",
            DType::Int8,
            vec![2],
            TensorProto {
                int_val: vec![-1, 5],
                ..Default::default()
            },
        ),
        t(
            "i16",
            DType::Int16,
            vec![1],
            TensorProto {
                int_val: vec![-300],
                ..Default::default()
            },
        ),
        t(
            "q",
            DType::QInt32,
            vec![1],
            TensorProto {
                int_val: vec![-7],
                ..Default::default()
            },
        ),
        t(
            "u8",
            DType::UInt8,
            vec![1],
            TensorProto {
                int_val: vec![200],
                ..Default::default()
            },
        ),
        t(
            "u64",
            DType::UInt64,
            vec![1],
            TensorProto {
                uint64_val: vec![u64::MAX],
                ..Default::default()
            },
        ),
    ]);
    // int8 -1 is a 10-byte varint inside the record (observed TF encoding).
    let raw = Table::parse(&f)
        .unwrap()
        .get(&f, &ordered_code::encode_slice_key(b"i8", &[(0, -1)]))
        .unwrap()
        .unwrap();
    assert!(raw
        .windows(10)
        .any(|w| w == unhex("ff ff ff ff ff ff ff ff ff 01")));
    let ck = Checkpoint::from_memory_v1(vec![f]).unwrap();
    let bytes = |n: &str| match ck.read(n).unwrap().data {
        TensorData::Bytes(b) => b,
        TensorData::Strings(_) => panic!(),
    };
    assert_eq!(bytes("b"), [1, 0, 1]);
    assert_eq!(
        bytes("c"),
        [1.0f32.to_le_bytes(), 2.0f32.to_le_bytes()].concat()
    );
    assert_eq!(bytes("d"), 0.5f64.to_le_bytes());
    assert_eq!(bytes("h"), unhex("003c 00c0"));
    assert_eq!(bytes("i8"), [0xff, 5]);
    assert_eq!(bytes("i16"), (-300i16).to_le_bytes());
    assert_eq!(bytes("q"), (-7i32).to_le_bytes());
    assert_eq!(bytes("u8"), [200]);
    assert_eq!(bytes("u64"), [0xff; 8]);
}

#[test]
fn v1_slices_across_files_and_value_count_check() {
    let part = |rows: (i64, i64), vals: Vec<f32>| V1Tensor {
        name: "p",
        dtype: DType::Float32,
        dims: vec![4, 2],
        slices: vec![(
            vec![rows, (0, -1)],
            TensorProto {
                float_val: vals,
                ..Default::default()
            },
        )],
    };
    let f0 = v1_file(&[part((0, 1), vec![0.0, 1.0])]);
    let f1 = v1_file(&[part((1, 3), vec![2.0, 3.0, 4.0, 5.0, 6.0, 7.0])]);
    let ck = Checkpoint::from_memory_v1(vec![f0.clone(), f1]).unwrap();
    assert_eq!(ck.num_shards(), 2);
    assert!(ck.get("p").unwrap().sliced);
    let want: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    assert_eq!(ck.read("p").unwrap().data, TensorData::Bytes(want));
    // Only one file: not enough slices.
    let ck = Checkpoint::from_memory_v1(vec![f0]).unwrap();
    assert!(matches!(
        ck.read("p").unwrap_err().kind(),
        ErrorKind::Slices(_)
    ));
    // Value count differs from the slice's element count.
    let bad = v1_file(&[part((0, 4), vec![1.0])]);
    let ck = Checkpoint::from_memory_v1(vec![bad]).unwrap();
    let e = ck.read("p").unwrap_err();
    assert!(e.to_string().contains("expected 8"), "{e}");
    // Conflicting shapes across files.
    let other = v1_file(&[V1Tensor {
        name: "p",
        dtype: DType::Float32,
        dims: vec![5, 2],
        slices: vec![],
    }]);
    let e = Checkpoint::from_memory_v1(vec![v1_file(&[part((0, 1), vec![0.0, 1.0])]), other])
        .unwrap_err();
    assert!(e.to_string().contains("incompatible tensor shapes"), "{e}");
    // A table without the meta record.
    let mut b = TableBuilder::new(TableOptions::default());
    b.add(b"\x00x", b"").unwrap();
    let e = Checkpoint::from_memory_v1(vec![b.finish()]).unwrap_err();
    assert!(e.to_string().contains("saved tensor slices"), "{e}");
}

#[test]
fn v1_files_open_by_path_and_glob() {
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("model.ckpt-3");
    std::fs::write(&single, spec_file()).unwrap();
    let ck = Checkpoint::open(&single).unwrap();
    assert_eq!(ck.format().to_string(), "v1");
    assert_eq!(ck.tensors().len(), 3);
    let part = |rows: (i64, i64), vals: Vec<f32>| V1Tensor {
        name: "p",
        dtype: DType::Float32,
        dims: vec![2, 1],
        slices: vec![(
            vec![rows, (0, -1)],
            TensorProto {
                float_val: vals,
                ..Default::default()
            },
        )],
    };
    std::fs::write(
        tmp.path().join("m.ckpt-3-00000-of-00002"),
        v1_file(&[part((0, 1), vec![1.0])]),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("m.ckpt-3-00001-of-00002"),
        v1_file(&[part((1, 1), vec![2.0])]),
    )
    .unwrap();
    let ck = Checkpoint::open(tmp.path().join("m.ckpt-3-?????-of-00002")).unwrap();
    assert_eq!(ck.num_shards(), 2);
    let want: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(ck.read("p").unwrap().data, TensorData::Bytes(want));
    // The `checkpoint` state file of a V1 save names the glob.
    std::fs::write(
        tmp.path().join("checkpoint"),
        "model_checkpoint_path: \"m.ckpt-3-?????-of-00002\"\n",
    )
    .unwrap();
    let ck = Checkpoint::open(tmp.path()).unwrap();
    assert_eq!(ck.num_shards(), 2);
    let e = Checkpoint::open(tmp.path().join("nothing-*")).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NoCheckpoint(_)), "{e}");
}
