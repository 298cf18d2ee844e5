use super::*;
use proptest::prelude::*;
use safetensors::Dtype;
use std::borrow::Cow;

struct V(Dtype, Vec<usize>, Vec<u8>);
impl safetensors::View for &V {
    fn dtype(&self) -> Dtype {
        self.0
    }
    fn shape(&self) -> &[usize] {
        &self.1
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.2)
    }
    fn data_len(&self) -> usize {
        self.2.len()
    }
}

const DTYPES: [DType; 13] = [
    DType::Float16,
    DType::BFloat16,
    DType::Float32,
    DType::Float64,
    DType::Int8,
    DType::Int16,
    DType::Int32,
    DType::Int64,
    DType::UInt8,
    DType::UInt16,
    DType::UInt32,
    DType::UInt64,
    DType::Bool,
];

type Case = Vec<(String, DType, Vec<u64>, Vec<u8>)>;

fn case_strategy() -> impl Strategy<Value = (Case, Vec<usize>)> {
    let tensor = (
        "[a-zA-Z0-9_/.:\\- ]{1,12}",
        0..DTYPES.len(),
        prop::collection::vec(0u64..5, 0..4),
        any::<u64>(),
    )
        .prop_map(|(name, d, shape, seed)| {
            let dtype = DTYPES[d];
            let n = shape.iter().product::<u64>() as usize * dtype.element_size().unwrap();
            let bytes = (0..n)
                .map(|i| (seed.wrapping_mul(i as u64 + 1) >> 7) as u8)
                .collect();
            (name, dtype, shape, bytes)
        });
    prop::collection::vec(tensor, 0..12)
        .prop_map(|mut v| {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v.dedup_by(|a, b| a.0 == b.0);
            v
        })
        .prop_flat_map(|v| {
            let n = v.len();
            (Just(v), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Streaming output (written in any order) equals `safetensors::serialize` byte for byte,
    /// and the crate loads back every tensor.
    #[test]
    fn streaming_equals_crate_serialize((tensors, perm) in case_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.safetensors");
        let decl = tensors.iter().map(|(n, d, s, _)| (n.clone(), *d, s.clone())).collect();
        let mut w = SafetensorsWriter::create(&path, decl, BTreeMap::new()).unwrap();
        for &i in &perm {
            let (name, _, _, bytes) = &tensors[i];
            if i % 2 == 0 {
                w.write_next(name, bytes).unwrap();
            } else {
                let mut s = w.stream(name).unwrap();
                for chunk in bytes.chunks(3) {
                    s.write_all(chunk).unwrap();
                }
                s.finish().unwrap();
            }
        }
        w.finish().unwrap();
        let ours = std::fs::read(&path).unwrap();
        let views: Vec<(String, V)> = tensors
            .iter()
            .map(|(n, d, s, b)| {
                let st = crate::safetensors_dtype(*d).unwrap();
                (n.clone(), V(st, s.iter().map(|&x| x as usize).collect(), b.clone()))
            })
            .collect();
        let crate_bytes = safetensors::serialize(views.iter().map(|(n, v)| (n.as_str(), v)), None).unwrap();
        prop_assert_eq!(&ours, &crate_bytes);
        let st = safetensors::SafeTensors::deserialize(&ours).unwrap();
        prop_assert_eq!(st.len(), tensors.len());
        for (name, dtype, shape, bytes) in &tensors {
            let t = st.tensor(name).unwrap();
            prop_assert_eq!(t.dtype(), crate::safetensors_dtype(*dtype).unwrap());
            prop_assert_eq!(t.shape().iter().map(|&x| x as u64).collect::<Vec<_>>(), shape.clone());
            prop_assert_eq!(t.data(), &bytes[..]);
        }
    }
}

#[test]
fn metadata_is_stored_and_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let meta = BTreeMap::from([
        ("epoch".to_string(), "3".to_string()),
        ("source".into(), "a/b \"c\"".into()),
    ]);
    let mut w =
        SafetensorsWriter::create(&path, vec![("x".into(), DType::Float32, vec![])], meta).unwrap();
    w.write_next("x", &1.5f32.to_le_bytes()).unwrap();
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (_, m) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let md = m.metadata().as_ref().unwrap();
    assert_eq!(md["epoch"], "3");
    assert_eq!(md["source"], "a/b \"c\"");
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0);
}

#[test]
fn contract_violations_are_errors_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let decl = vec![
        ("a".to_string(), DType::Int32, vec![2]),
        ("b".into(), DType::UInt8, vec![0]),
    ];
    let mut w = SafetensorsWriter::create(&path, decl, BTreeMap::new()).unwrap();
    assert_eq!(w.order().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(
        w.write_next("a", &[1, 2, 3]).unwrap_err().kind().label(),
        "usage"
    );
    assert_eq!(w.write_next("zz", &[]).unwrap_err().kind().label(), "usage");
    let mut s = w.stream("a").unwrap();
    assert!(s.write_all(&[0u8; 9]).is_err());
    let _ = s;
    let err = w.finish().unwrap_err();
    assert_eq!(err.kind().label(), "usage");
    assert!(err.to_string().contains("never written"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let dup = vec![
        ("a".to_string(), DType::Int32, vec![]),
        ("a".into(), DType::Int8, vec![]),
    ];
    let e = SafetensorsWriter::create(&path, dup, BTreeMap::new()).unwrap_err();
    assert_eq!(e.kind().label(), "name_collision");
    let e = SafetensorsWriter::create(
        &path,
        vec![("s".into(), DType::String, vec![])],
        BTreeMap::new(),
    )
    .unwrap_err();
    assert_eq!(e.kind().label(), "unsupported");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
