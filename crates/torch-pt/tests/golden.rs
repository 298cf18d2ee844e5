//! Golden test: every `.pt` checkpoint of every fixture manifest (`"format": "pt"`, written by
//! RETURNN's real PyTorch engine and described by `torch.load(weights_only=True)`) reads here
//! with the same tensors (dotted path names, dtype, shape, sha256, raw bytes of small tensors),
//! the same tied storages, state-dict keys and scalar entries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::PathBuf;

use serde_json::Value as J;
use torch_pt::{PtFile, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

#[test]
fn every_pt_checkpoint_of_the_fixtures_matches_its_manifest() {
    let mut files = 0;
    let mut tensors = 0;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let m: J =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        for ck in m["checkpoints"].as_array().unwrap() {
            if ck["format"] != "pt" {
                continue;
            }
            let path = dir.join(ck["prefix"].as_str().unwrap());
            let ctx = path.display().to_string();
            let f = PtFile::open(&path).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let ours = f.tensors();
            let theirs = ck["tensors"].as_array().unwrap();
            assert_eq!(ours.len(), theirs.len(), "{ctx}");
            assert_eq!(ck["num_tensors"].as_u64(), Some(ours.len() as u64), "{ctx}");
            for (t, w) in ours.iter().zip(theirs) {
                let tctx = format!("{ctx}: {}", t.name);
                assert_eq!(t.name, w["name"].as_str().unwrap(), "{ctx}");
                assert_eq!(t.info.dtype.name(), w["dtype"].as_str().unwrap(), "{tctx}");
                let shape: Vec<u64> = w["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect();
                assert_eq!(t.info.shape, shape, "{tctx}");
                assert_eq!(
                    torch_pt::hex(&f.digest(t).unwrap()),
                    w["sha256"].as_str().unwrap(),
                    "{tctx}"
                );
                let bytes = f.read(t).unwrap();
                assert_eq!(Some(bytes.len() as u64), w["nbytes"].as_u64(), "{tctx}");
                if let Some(raw) = w["raw_hex"].as_str() {
                    assert_eq!(hex::encode(&bytes), raw, "{tctx}");
                }
                // tied storages: the same set of names as torch's
                let mut shared: Vec<String> = ours
                    .iter()
                    .filter(|o| {
                        o.name != t.name
                            && o.info.storage.key == t.info.storage.key
                            && o.info.storage.numel > 0
                    })
                    .map(|o| o.name.clone())
                    .collect();
                shared.sort();
                let mut want: Vec<String> = w["storage_shared_with"]
                    .as_array()
                    .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default();
                want.sort();
                assert_eq!(shared, want, "{tctx}");
                tensors += 1;
            }
            if let Some(keys) = ck["state_dict"]["keys"].as_array() {
                let sd = f.state_dict().unwrap_or_else(|e| panic!("{ctx}: {e}"));
                let names: Vec<&str> = sd.tensors.iter().map(|t| t.name.as_str()).collect();
                let want: Vec<&str> = keys.iter().map(|k| k.as_str().unwrap()).collect();
                assert_eq!(names, want, "{ctx}");
                assert_eq!(
                    sd.under.as_deref(),
                    ck["state_dict"]["under"].as_str(),
                    "{ctx}"
                );
            }
            let scalars = f.scalars();
            for (k, v) in ck["scalars"].as_object().unwrap() {
                let ours = scalars.iter().find(|(n, _)| n == k).map(|(_, v)| v);
                let ok = match (ours, v) {
                    (Some(Value::Int(i)), J::Number(n)) => n.as_i64() == Some(*i),
                    (Some(Value::Str(s)), J::String(w)) => s == w,
                    (Some(Value::None), J::Null) => true,
                    (Some(Value::Bool(b)), J::Bool(w)) => b == w,
                    (Some(Value::Float(x)), J::Object(o)) => {
                        o["float"]
                            .as_str()
                            .unwrap()
                            .parse::<f64>()
                            .unwrap()
                            .to_bits()
                            == x.to_bits()
                    }
                    _ => false,
                };
                assert!(ok, "{ctx}: scalar {k}: ours {ours:?}, manifest {v}");
            }
            let r = f.returnn_scalars();
            assert_eq!(r.epoch, ck["scalars"]["epoch"].as_i64(), "{ctx}");
            assert_eq!(r.step, ck["scalars"]["step"].as_i64(), "{ctx}");
            files += 1;
        }
    }
    assert!(
        files >= 5,
        "expected the returnn_torch_train .pt files, found {files}"
    );
    assert!(tensors >= 40, "{tensors}");
}
