//! Property tests of the writer: whatever it writes, the reader gives back (values, dtypes,
//! shapes including scalars and zero-size, strided views of shared storages, nested trees,
//! ZIP64 records), and every view's bytes equal an independent element-by-element gather.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::io::Cursor;

use proptest::prelude::*;
use torch_pt::{
    contiguous_strides, DType, Dict, DictKind, Layout, PtFile, PtWriter, ReturnnMeta,
    StateDictWriter, TensorInfo, Value, WriteOptions,
};

/// The reference: element `idx` of a strided view, read straight from the storage bytes.
fn gather_ref(t: &TensorInfo, storage: &[u8]) -> Vec<u8> {
    let es = t.dtype.size() as usize;
    let n: u64 = t.shape.iter().product();
    let mut out = Vec::new();
    for flat in 0..n {
        let mut rem = flat;
        let mut off = t.storage_offset;
        for d in (0..t.shape.len()).rev() {
            let i = rem % t.shape[d];
            rem /= t.shape[d];
            off += i * t.stride[d];
        }
        let a = off as usize * es;
        out.extend_from_slice(&storage[a..a + es]);
    }
    out
}

#[derive(Debug, Clone)]
struct Spec {
    dtype: DType,
    shape: Vec<u64>,
    bytes: Vec<u8>,
    /// views: (shape, stride, offset)
    views: Vec<(Vec<u64>, Vec<u64>, u64)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0usize..DType::ALL.len(),
        prop::collection::vec(prop_oneof![Just(0u64), 1u64..5], 0..4),
    )
        .prop_flat_map(|(d, shape)| {
            let dtype = DType::ALL[d];
            let numel: u64 = shape.iter().product();
            let nbytes = (numel * dtype.size()) as usize;
            let views = prop::collection::vec(
                (
                    prop::collection::vec(0u64..4, 0..3),
                    prop::collection::vec(0u64..4, 0..3),
                    0u64..numel.max(1),
                ),
                0..4,
            );
            (
                Just(dtype),
                Just(shape),
                prop::collection::vec(any::<u8>(), nbytes),
                views,
            )
        })
        .prop_map(|(dtype, shape, mut bytes, raw)| {
            if dtype == DType::Bool {
                bytes.iter_mut().for_each(|b| *b &= 1);
            }
            let numel: u64 = shape.iter().product();
            // keep the views that fit the storage
            let views = raw
                .into_iter()
                .filter_map(|(s, st, off)| {
                    let r = s.len().min(st.len());
                    let (s, st) = (s[..r].to_vec(), st[..r].to_vec());
                    let t = TensorInfo {
                        dtype,
                        shape: s.clone(),
                        stride: st.clone(),
                        storage_offset: off,
                        storage: torch_pt::StorageRef {
                            key: String::new(),
                            dtype,
                            numel,
                            location: "cpu".into(),
                        },
                        requires_grad: false,
                        parameter: false,
                    };
                    let ok =
                        t.numel() == Some(0) || t.storage_span().is_some_and(|(_, e)| e <= numel);
                    ok.then_some((s, st, off))
                })
                .collect();
            Spec {
                dtype,
                shape,
                bytes,
                views,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn state_dicts_round_trip(specs in prop::collection::vec(spec(), 0..5), returnn in any::<bool>(), zip64 in any::<bool>(), step in 0i64..1 << 50) {
        let layout = if returnn {
            Layout::Returnn(ReturnnMeta { epoch: 7, step, effective_learning_rate: Some(0.25), returnn_version: "x".into() })
        } else {
            Layout::Flat
        };
        let opts = WriteOptions { archive_name: Some("m".into()), force_zip64: zip64 };
        let mut w = StateDictWriter::new(Cursor::new(Vec::new()), layout, &opts).unwrap();
        let mut expect: Vec<(String, DType, Vec<u64>, Vec<u8>)> = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            let key = format!("l{i}.w");
            let st = w.add(&key, s.dtype, &s.shape, &mut s.bytes.as_slice()).unwrap();
            expect.push((key, s.dtype, s.shape.clone(), s.bytes.clone()));
            for (j, (vs, vst, off)) in s.views.iter().enumerate() {
                let key = format!("l{i}.v{j}");
                w.add_view(&key, &st, vs, Some(vst), *off).unwrap();
                let t = TensorInfo { dtype: s.dtype, shape: vs.clone(), stride: vst.clone(), storage_offset: *off, storage: st.clone(), requires_grad: false, parameter: false };
                expect.push((key, s.dtype, vs.clone(), gather_ref(&t, &s.bytes)));
            }
        }
        let bytes = w.finish().unwrap().into_inner();
        let f = PtFile::from_bytes(bytes, "rt.pt").unwrap();
        prop_assert_eq!(f.archive_name(), "m");
        let sd = f.state_dict().unwrap();
        prop_assert_eq!(sd.under.is_some(), returnn);
        prop_assert_eq!(sd.tensors.len(), expect.len());
        for (t, (key, dtype, shape, data)) in sd.tensors.iter().zip(&expect) {
            prop_assert_eq!(&t.name, key);
            prop_assert_eq!(t.info.dtype, *dtype);
            prop_assert_eq!(&t.info.shape, shape);
            prop_assert_eq!(&f.read(t).unwrap(), data);
            let borrowed = f.tensor_bytes(t).unwrap();
            prop_assert_eq!(borrowed.as_ref(), data.as_slice());
        }
        // views share their base's storage
        let shared = f.shared_storages();
        for (i, s) in specs.iter().enumerate() {
            if !s.views.is_empty() {
                let key = sd.get(&format!("l{i}.w")).unwrap().info.storage.key.clone();
                prop_assert_eq!(shared[&key].len(), 1 + s.views.len());
            }
        }
        if returnn {
            let m = f.returnn_scalars();
            prop_assert_eq!((m.epoch, m.step, m.effective_learning_rate), (Some(7), Some(step), Some(0.25)));
        }
        f.verify_all().unwrap();
    }

    #[test]
    fn value_trees_round_trip(v in value_tree(), zip64 in any::<bool>()) {
        let mut w = PtWriter::new(Cursor::new(Vec::new()), &WriteOptions { archive_name: None, force_zip64: zip64 }).unwrap();
        let s = w.add_storage(DType::F32, 6, &mut [0u8; 24].as_slice()).unwrap();
        let t = TensorInfo::contiguous(s.clone(), vec![2, 3]);
        let mut top = Dict::new(DictKind::Dict);
        top.push("tree", v.clone());
        top.push("t", t.clone());
        let mut tt = t.clone();
        tt.shape = vec![3, 2];
        tt.stride = vec![1, 3];
        tt.parameter = true;
        tt.requires_grad = true;
        top.push("tied", tt);
        let root = Value::Dict(top);
        let bytes = w.finish(&root).unwrap().into_inner();
        let f = PtFile::from_bytes(bytes, "rt.pt").unwrap();
        prop_assert_eq!(f.root(), &root);
    }
}

fn value_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::None),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<u64>()
            .prop_map(|b| Value::Float(f64::from_bits(b)))
            .prop_filter(
                "NaN != NaN",
                |v| !matches!(v, Value::Float(x) if x.is_nan())
            ),
        ".{0,12}".prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
        Just(Value::Dtype("bfloat16".into())),
        Just(Value::Device("cuda:0".into())),
        (any::<i32>(), any::<i32>()).prop_map(|(a, b)| Value::Complex(a as f64, b as f64)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Tuple),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            (
                prop::collection::vec(("[a-z]{1,4}", inner.clone()), 0..5),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(kv, ordered, attrs)| {
                    let mut d = Dict::new(if ordered {
                        DictKind::OrderedDict
                    } else {
                        DictKind::Dict
                    });
                    let mut seen = std::collections::HashSet::new();
                    for (k, v) in kv {
                        if seen.insert(k.clone()) {
                            d.push(k, v);
                        }
                    }
                    if attrs && ordered {
                        d.attrs
                            .push((Value::Str("_metadata".into()), Value::Int(1)));
                    }
                    Value::Dict(d)
                }),
        ]
    })
}

#[test]
fn contiguous_strides_match_torch() {
    assert_eq!(contiguous_strides(&[]), Vec::<u64>::new());
    assert_eq!(contiguous_strides(&[3, 0, 2]), vec![2, 2, 1]);
}

#[test]
fn atomic_output_and_archive_name_from_the_file_stem() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("network.003.pt");
    let mut w = StateDictWriter::create(&dest, Layout::Flat).unwrap();
    w.add("w", DType::F16, &[2], &mut [0u8, 60, 0, 188].as_slice())
        .unwrap();
    // a source that gives too few bytes is an error, and nothing appears
    let e = w
        .add("x", DType::F32, &[4], &mut [0u8; 3].as_slice())
        .unwrap_err();
    assert_eq!(e.kind(), torch_pt::ErrorKind::InvalidArgument, "{e}");
    drop(w);
    assert!(!dest.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let mut w = StateDictWriter::create(&dest, Layout::Flat).unwrap();
    w.add("w", DType::F16, &[2], &mut [0u8, 60, 0, 188].as_slice())
        .unwrap();
    assert!(w
        .add("w", DType::F16, &[1], &mut [0u8; 2].as_slice())
        .is_err());
    assert!(!dest.exists());
    w.commit().unwrap();
    let f = PtFile::open(&dest).unwrap();
    assert_eq!(f.archive_name(), "network.003");
    for r in f.records() {
        assert_eq!(r.data_offset % 64, 0, "{}", r.name);
        assert!(!r.name.ends_with(".format_version"));
    }
}
