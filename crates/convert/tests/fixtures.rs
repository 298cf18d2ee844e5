//! Golden tests against the fixtures: every fixture checkpoint converts and each tensor equals
//! its `expected*.safetensors` (dtype, shape, bytes; tensors, not files); the way back
//! (safetensors -> TF bundle -> our reader) gives the same tensors; `avg` of the three
//! `returnn_train_nativelstm` epochs equals a mean computed here from the expected files;
//! `diff` of two epochs reports what a direct comparison finds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

/// The expected files leave out what cannot be read (as TF cannot read it).
fn skipping() -> Options {
    Options {
        skip_unreadable: true,
        ..Options::default()
    }
}

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use convert::select::Selection;
use convert::to_safetensors::{self, Options, StringPolicy};
use safetensors::SafeTensors;
use tf_bundle::{Checkpoint, DType, TensorData};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// (case dir, checkpoint prefix, expected safetensors or None) from every manifest.
fn checkpoints() -> Vec<(PathBuf, PathBuf, Option<PathBuf>)> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    dirs.sort();
    for dir in dirs {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        for c in m["checkpoints"].as_array().unwrap() {
            if c["format"] == "pt" {
                continue; // PyTorch checkpoints are not TF bundles
            }
            let prefix = dir.join(c["prefix"].as_str().unwrap());
            let expected = c["expected_safetensors"].as_str().map(|e| dir.join(e));
            out.push((dir.clone(), prefix, expected));
        }
    }
    assert!(out.len() >= 15, "fixtures not found");
    out
}

fn load(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn every_fixture_converts_and_matches_expected_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let mut total = 0;
    for (i, (_, prefix, expected)) in checkpoints().into_iter().enumerate() {
        let ckpt = Checkpoint::open(&prefix).unwrap();
        let out = dir.path().join(format!("{i}.safetensors"));
        let report = to_safetensors::to_safetensors(&ckpt, &out, &skipping(), &mut |_| {}).unwrap();
        let ours_bytes = load(&out);
        let ours = SafeTensors::deserialize(&ours_bytes).unwrap();
        let expected_bytes = expected.as_ref().map(|e| load(e));
        let exp = expected_bytes
            .as_ref()
            .map(|b| SafeTensors::deserialize(b).unwrap());
        let mut exp_names: Vec<String> = exp
            .as_ref()
            .map(|e| e.names().into_iter().map(String::from).collect())
            .unwrap_or_default();
        exp_names.sort();
        let mut our_names: Vec<String> = ours.names().into_iter().map(String::from).collect();
        our_names.sort();
        assert_eq!(our_names, exp_names, "{}: tensor set", prefix.display());
        if let Some(exp) = &exp {
            for name in &exp_names {
                let (a, b) = (ours.tensor(name).unwrap(), exp.tensor(name).unwrap());
                assert_eq!(a.dtype(), b.dtype(), "{name}");
                assert_eq!(a.shape(), b.shape(), "{name}");
                assert!(
                    a.data() == b.data(),
                    "{}: {name}: bytes differ",
                    prefix.display()
                );
                total += 1;
            }
        }
        // every tensor of the checkpoint is either written or reported skipped, once
        assert_eq!(
            report.tensors.len() + report.skipped.len(),
            ckpt.tensors().len(),
            "{}",
            prefix.display()
        );
        // metadata: source always; epoch / global_step for RETURNN checkpoints
        let (_, meta) = SafeTensors::read_metadata(&ours_bytes).unwrap();
        let md = meta.metadata().clone().unwrap();
        assert!(md.contains_key("source"));
        if prefix.to_string_lossy().contains("/net-model/network.") {
            let epoch: u64 = prefix
                .to_string_lossy()
                .rsplit('.')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(md["epoch"], epoch.to_string());
            let t = ckpt.read("global_step").unwrap();
            let TensorData::Bytes(b) = t.data else {
                panic!()
            };
            assert_eq!(
                md["global_step"],
                i64::from_le_bytes(b[..8].try_into().unwrap()).to_string()
            );
        }
    }
    assert!(total >= 3000 + 42 + 7 + 8, "compared only {total} tensors");
}

#[test]
fn strings_metadata_and_strict() {
    let prefix = fixtures().join("tf1_saver_dtypes/model.ckpt");
    let ckpt = Checkpoint::open(&prefix).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.safetensors");
    let opts = Options {
        strings: StringPolicy::Metadata,
        ..skipping()
    };
    let report = to_safetensors::to_safetensors(&ckpt, &out, &opts, &mut |_| {}).unwrap();
    let bytes = load(&out);
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let md = meta.metadata().clone().unwrap();
    for t in ckpt.tensors().iter().filter(|t| t.dtype == DType::String) {
        let TensorData::Strings(s) = ckpt.read(&t.name).unwrap().data else {
            panic!()
        };
        let key = format!("string:{}", t.name);
        let total: usize = s.iter().map(Vec::len).sum();
        if total as u64 > to_safetensors::MAX_STRING_METADATA_BYTES {
            assert!(!md.contains_key(&key));
            assert!(report.skipped.iter().any(|x| x.name == t.name));
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&md[&key]).unwrap();
        let got: Vec<Vec<u8>> = if let Some(u) = v.get("utf8") {
            u.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().as_bytes().to_vec())
                .collect()
        } else {
            v["hex"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| hex::decode(x.as_str().unwrap()).unwrap())
                .collect()
        };
        assert_eq!(got, s, "{}", t.name);
    }
    // the way back restores the string tensors
    let back = dir.path().join("back");
    convert::to_tf::safetensors_to_tf(&out, &back, &Selection::default(), false, &mut |_| {})
        .unwrap();
    let b = Checkpoint::open(&back).unwrap();
    let t = b.read("strings/edge_cases").unwrap();
    assert_eq!(t, ckpt.read("strings/edge_cases").unwrap());

    // --strict: error, nothing written
    let out2 = dir.path().join("strict.safetensors");
    let opts = Options {
        strict: true,
        ..skipping()
    };
    let err = to_safetensors::to_safetensors(&ckpt, &out2, &opts, &mut |_| {}).unwrap_err();
    assert_eq!(err.kind().label(), "unsupported");
    assert!(err.key().is_some());
    assert!(!out2.exists());
}

#[test]
fn safetensors_back_to_tf_round_trips_through_our_reader() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (_, prefix, expected)) in checkpoints().into_iter().enumerate() {
        let Some(expected) = expected else { continue };
        let out = dir.path().join(format!("b{i}"));
        let report = convert::to_tf::safetensors_to_tf(
            &expected,
            &out,
            &Selection::default(),
            true,
            &mut |_| {},
        )
        .unwrap();
        let ours = Checkpoint::open(&out).unwrap();
        let orig = Checkpoint::open(&prefix).unwrap();
        assert_eq!(ours.tensors().len(), report.tensors.len());
        for t in ours.tensors() {
            assert_eq!(
                ours.read(&t.name).unwrap(),
                orig.read(&t.name).unwrap(),
                "{}: {}",
                prefix.display(),
                t.name
            );
        }
    }
}

#[test]
fn include_exclude_rename_no_optimizer() {
    let prefix = fixtures().join("tf2_object_keras/ckpt-1");
    let ckpt = Checkpoint::open(&prefix).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sel.safetensors");
    let selection = Selection::new(
        &[],
        &["^extra/".into()],
        &[
            "/\\.ATTRIBUTES/VARIABLE_VALUE$=".into(),
            "^optimizer/_trainable_variables/=model/".into(),
        ],
        true,
    )
    .unwrap();
    let opts = Options {
        selection,
        ..skipping()
    };
    to_safetensors::to_safetensors(&ckpt, &out, &opts, &mut |_| {}).unwrap();
    let bytes = load(&out);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<&str> = st.names();
    names.sort();
    assert_eq!(
        names,
        [
            "model/0",
            "model/1",
            "model/2",
            "model/3",
            "model/4",
            "model/5",
            "save_counter",
            "step"
        ]
    );
    let orig = ckpt
        .read("optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE")
        .unwrap();
    let TensorData::Bytes(b) = orig.data else {
        panic!()
    };
    assert_eq!(st.tensor("model/0").unwrap().data(), &b[..]);
}

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    st.tensor(name)
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn avg_of_three_epochs_equals_mean_of_expected_values() {
    let case = fixtures().join("returnn_train_nativelstm");
    let inputs: Vec<Checkpoint> = (1..=3)
        .map(|e| Checkpoint::open(case.join(format!("net-model/network.{e:03}"))).unwrap())
        .collect();
    let expected: Vec<Vec<u8>> = (1..=3)
        .map(|e| load(&case.join(format!("expected/network.{e:03}.safetensors"))))
        .collect();
    let exp: Vec<SafeTensors> = expected
        .iter()
        .map(|b| SafeTensors::deserialize(b).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("avg");
    let report = convert::avg::average(&inputs, &out, false, &mut |_| {}).unwrap();
    assert_eq!(report.copied_from_last, ["global_step"]);
    let avg = Checkpoint::open(&out).unwrap();
    assert_eq!(avg.tensors().len(), 8);
    for name in exp[0].names() {
        let t = avg.read(name).unwrap();
        let TensorData::Bytes(b) = t.data else {
            panic!()
        };
        if name == "global_step" {
            assert_eq!(b, exp[2].tensor(name).unwrap().data());
            continue;
        }
        let vals: Vec<Vec<f32>> = exp.iter().map(|e| f32s(e, name)).collect();
        let mean: Vec<f32> = (0..vals[0].len())
            .map(|i| {
                ((f64::from(vals[0][i]) + f64::from(vals[1][i]) + f64::from(vals[2][i])) / 3.0)
                    as f32
            })
            .collect();
        let got: Vec<f32> = b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, mean, "{name}");
        assert_ne!(
            got, vals[2],
            "{name}: the mean must differ from the last epoch"
        );
    }
    // a mismatch is a clear error naming the tensor; nothing written
    let other = Checkpoint::open(fixtures().join("returnn_preload/net-model/network.001")).unwrap();
    let out2 = dir.path().join("bad");
    let mixed = vec![
        Checkpoint::open(case.join("net-model/network.001")).unwrap(),
        other,
    ];
    let err = convert::avg::average(&mixed, &out2, false, &mut |_| {}).unwrap_err();
    assert_eq!(err.kind().label(), "mismatch");
    assert!(err.key().is_some(), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "only avg.index and avg.data"
    );
}

#[test]
fn diff_of_two_epochs_matches_a_direct_comparison() {
    let case = fixtures().join("returnn_train_nativelstm");
    let a = Checkpoint::open(case.join("net-model/network.001")).unwrap();
    let b = Checkpoint::open(case.join("net-model/network.002")).unwrap();
    let d = convert::diff::diff(&a, &b, 0.0, 0.0, &mut |_| {}).unwrap();
    assert!(!d.equal);
    assert!(d.only_in_a.is_empty() && d.only_in_b.is_empty());
    let ea = load(&case.join("expected/network.001.safetensors"));
    let eb = load(&case.join("expected/network.002.safetensors"));
    let (sa, sb) = (
        SafeTensors::deserialize(&ea).unwrap(),
        SafeTensors::deserialize(&eb).unwrap(),
    );
    let mut expected: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for name in sa.names() {
        if name == "global_step" {
            continue;
        }
        let (x, y) = (f32s(&sa, name), f32s(&sb, name));
        let n = x.iter().zip(&y).filter(|(p, q)| p != q).count() as u64;
        let m = x
            .iter()
            .zip(&y)
            .map(|(p, q)| (f64::from(*p) - f64::from(*q)).abs())
            .fold(0.0, f64::max);
        if n > 0 {
            expected.insert(name.to_string(), (n, m));
        }
    }
    for v in &d.value_changed {
        if v.name == "global_step" {
            continue;
        }
        assert_eq!(
            (v.count, v.max_abs.unwrap()),
            expected[&v.name],
            "{}",
            v.name
        );
    }
    assert_eq!(
        d.value_changed
            .iter()
            .filter(|v| v.name != "global_step")
            .count(),
        expected.len()
    );
    // a huge tolerance makes the floats equal; global_step still differs exactly
    let d = convert::diff::diff(&a, &b, 1e9, 0.0, &mut |_| {}).unwrap();
    assert!(d.value_changed.is_empty(), "{:?}", d.value_changed);
    let d = convert::diff::diff(&a, &a, 0.0, 0.0, &mut |_| {}).unwrap();
    assert!(d.equal);
}

#[test]
fn float8_maps_only_with_the_option_and_keeps_the_bytes() {
    let case = fixtures().join("rawop_exotic_dtypes");
    let m: serde_json::Value = serde_json::from_slice(&load(&case.join("manifest.json"))).unwrap();
    let ckpt = Checkpoint::open(case.join("raw_savev2")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plain = to_safetensors::plan(&ckpt, &skipping()).unwrap();
    assert!(
        plain.tensors.is_empty(),
        "nothing mappable without --float8"
    );
    assert!(plain.skipped.iter().any(|s| s.reason.contains("--float8")));
    let out = dir.path().join("f8.safetensors");
    let opts = Options {
        float8: true,
        ..skipping()
    };
    to_safetensors::to_safetensors(&ckpt, &out, &opts, &mut |_| {}).unwrap();
    let bytes = load(&out);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut n = 0;
    for t in m["checkpoints"][0]["tensors"].as_array().unwrap() {
        let dtype = t["dtype"].as_str().unwrap();
        if !dtype.starts_with("float8") {
            continue;
        }
        let v = st.tensor(t["name"].as_str().unwrap()).unwrap();
        let want = if dtype == "float8_e4m3fn" {
            safetensors::Dtype::F8_E4M3
        } else {
            safetensors::Dtype::F8_E5M2
        };
        assert_eq!(v.dtype(), want);
        assert_eq!(hex::encode(v.data()), t["raw_hex"].as_str().unwrap());
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn checkpoint_to_tf_rewrites_every_fixture_tensor_for_tensor() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (_, prefix, _)) in checkpoints().into_iter().enumerate() {
        let orig = Checkpoint::open(&prefix).unwrap();
        let out = dir.path().join(format!("t{i}"));
        let report = convert::to_tf::checkpoint_to_tf(
            &orig,
            &out,
            &Selection::default(),
            false,
            &mut |_| {},
        )
        .unwrap();
        let ours = Checkpoint::open(&out).unwrap();
        assert_eq!(ours.num_shards(), 1);
        assert_eq!(
            ours.tensors().len() + report.skipped.len(),
            orig.tensors().len(),
            "{}",
            prefix.display()
        );
        for s in &report.skipped {
            assert!(
                orig.read(&s.name).is_err(),
                "{} skipped but readable",
                s.name
            );
        }
        for t in ours.tensors() {
            assert!(!t.sliced);
            assert_eq!(
                ours.read(&t.name).unwrap(),
                orig.read(&t.name).unwrap(),
                "{}: {}",
                prefix.display(),
                t.name
            );
        }
    }
}
