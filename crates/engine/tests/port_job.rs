//! The `port` job (`engine::port`) end to end in process: its reports are the CLI's `--json`
//! documents (the recorded snapshots), what it writes is exactly what the plan computes
//! (read back with `torch-pt` and the `safetensors` crate), the `.pt` metadata defaults, the
//! target forms (`.pt`, `.safetensors`, JSON), casts, the error kinds and exit classes, and
//! that no output (nor a temp file) appears when a value cannot be computed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::config::ConfigRequest;
use engine::port::{PortRequest, PtLayout, RulesInput, SuggestRequest};
use engine::{ErrorKind, NoProgress, Outcome};
use proptest::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .canonicalize()
        .unwrap()
}

fn native() -> PathBuf {
    fixtures().join("returnn_train_nativelstm")
}

fn native_config() -> ConfigRequest {
    ConfigRequest::file(native().join("returnn.config"), vec![], native())
}

fn snapshot_stdout(case: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cli/tests/snapshots")
        .join(format!("{case}.out"));
    let text = std::fs::read_to_string(&p).unwrap();
    let start = text.find("--- stdout\n").unwrap() + "--- stdout\n".len();
    let end = text.find("--- stderr\n").unwrap();
    text[start..end].to_string()
}

fn pretty(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

/// The rules `port --suggest` writes for the fixture with its config (as the snapshot cases do).
fn suggested_rules(dir: &Path) -> PathBuf {
    let out = dir.join("native-rules.toml");
    engine::port::suggest(&SuggestRequest {
        checkpoint: native().join("net-model/network.003"),
        config: Some(native_config()),
        target: None,
        out: Some(out.clone()),
        force: false,
        style: None,
    })
    .unwrap();
    out
}

fn request(rules: &Path, out: Option<PathBuf>) -> PortRequest {
    let mut r = PortRequest::new(
        native().join("net-model/network.003"),
        RulesInput::File(rules.to_path_buf()),
    );
    r.out = out;
    r
}

fn dir_names(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn reports_are_the_cli_json() {
    let tmp = tempfile::tempdir().unwrap();
    // suggest without config, printed (port-suggest-json)
    let s = engine::port::suggest(&SuggestRequest {
        checkpoint: native().join("net-model/network.003"),
        config: None,
        target: None,
        out: None,
        force: false,
        style: None,
    })
    .unwrap();
    assert_eq!(pretty(&s), snapshot_stdout("port-suggest-json"));
    // the .pt port with the config (port-pt-json)
    let rules = suggested_rules(tmp.path());
    let mut req = request(&rules, Some(tmp.path().join("native.pt")));
    req.config = Some(native_config());
    let mut r = engine::port::run(&req, &NoProgress).unwrap();
    r.written.as_mut().unwrap().out = "../out/native.pt".into();
    assert_eq!(pretty(&r), snapshot_stdout("port-pt-json"));
    // a plan against another model's state dict: not ok, issues listed (port-plan-mismatch-json)
    let mut req = request(&rules, None);
    req.target = Some(fixtures().join("returnn_torch_train/net-model/network.003.pt"));
    let r = engine::port::run(&req, &NoProgress).unwrap();
    assert!(!r.plan.ok && r.written.is_none());
    assert_eq!(pretty(&r), snapshot_stdout("port-plan-mismatch-json"));
    // ... and with an output it is an error, of the first issue's kind, with every issue
    req.out = Some(tmp.path().join("mismatch.pt"));
    let e = engine::port::run(&req, &NoProgress).unwrap_err();
    let doc: serde_json::Value =
        serde_json::from_str(&snapshot_stdout("port-mismatch-json")).unwrap();
    assert_eq!(e.label(), doc["error"]["kind"]);
    assert_eq!(e.message(), doc["error"]["message"]);
    assert_eq!(e.key(), doc["error"]["key"].as_str());
    assert_eq!(e.outcome(), Outcome::Negative);
    assert!(!tmp.path().join("mismatch.pt").exists());
}

/// name, dtype name, shape, bytes.
type Entry = (String, String, Vec<u64>, Vec<u8>);

/// Reads a `.pt` state dict back: name -> (dtype name, shape, bytes), in file order.
fn read_pt(p: &Path) -> (Vec<Entry>, torch_pt::ReturnnScalars) {
    let f = torch_pt::PtFile::open(p).unwrap();
    let sd = f.state_dict().unwrap();
    let v = sd
        .tensors
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.info.dtype.name().to_string(),
                t.info.shape.clone(),
                f.read(t).unwrap(),
            )
        })
        .collect();
    (v, f.returnn_scalars())
}

#[test]
fn the_pt_holds_exactly_the_planned_values_with_returnn_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = suggested_rules(tmp.path());
    let out = tmp.path().join("m.pt");
    let mut req = request(&rules, Some(out.clone()));
    req.config = Some(native_config());
    let r = engine::port::run(&req, &NoProgress).unwrap();
    let w = r.written.unwrap();
    assert_eq!((w.format, w.layout, w.tensors), ("pt", Some("returnn"), 7));
    assert_eq!(w.bytes, std::fs::metadata(&out).unwrap().len());
    let ckpt = tf_bundle::Checkpoint::open(native().join("net-model/network.003")).unwrap();
    let gs = convert::to_safetensors::global_step(&ckpt)
        .unwrap()
        .unwrap();
    assert!(gs > 0);
    assert_eq!((w.epoch, w.step), (Some(3), Some(gs)));
    let (tensors, scalars) = read_pt(&out);
    assert_eq!(scalars.epoch, Some(3));
    assert_eq!(scalars.step, Some(gs));
    assert_eq!(scalars.effective_learning_rate, None);
    assert!(scalars
        .returnn_version
        .unwrap()
        .starts_with("returnn-ckpt "));
    // no target: sorted by name; every value is the plan's computation
    let names: Vec<&str> = tensors.iter().map(|t| t.0.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(tensors.len(), r.plan.params.len());
    for (name, dtype, shape, bytes) in &tensors {
        let p = r.plan.param(name).unwrap();
        let v = p.compute(&ckpt).unwrap();
        assert_eq!(
            (dtype.as_str(), shape, bytes),
            (v.dtype.name(), &v.shape, &v.data)
        );
    }
    // the RF LSTM's ff_weight is the TF kernel with gates j,i,f,o -> i,f,j,o, transposed
    let w_tf = match ckpt.read("fw0/rec/W").unwrap().data {
        tf_bundle::TensorData::Bytes(b) => b,
        _ => unreachable!(),
    };
    let f32s = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let (w_in, n) = (f32s(&w_tf), 10usize);
    let ff = f32s(&tensors.iter().find(|t| t.0 == "fw0.ff_weight").unwrap().3);
    let tf_block = |g: usize| match g {
        0 => 1, // i
        1 => 2, // f
        2 => 0, // j
        _ => 3, // o
    };
    for row in 0..4 * n {
        for col in 0..9 {
            let src_col = tf_block(row / n) * n + row % n;
            assert_eq!(ff[row * 9 + col], w_in[col * 4 * n + src_col]);
        }
    }
}

#[test]
fn epoch_step_and_layout_options() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = suggested_rules(tmp.path());
    // explicit epoch and step
    let mut req = request(&rules, Some(tmp.path().join("e.pt")));
    req.epoch = Some(7);
    req.step = Some(100);
    let w = engine::port::run(&req, &NoProgress)
        .unwrap()
        .written
        .unwrap();
    assert_eq!((w.epoch, w.step), (Some(7), Some(100)));
    let (_, s) = read_pt(&tmp.path().join("e.pt"));
    assert_eq!((s.epoch, s.step), (Some(7), Some(100)));
    // a prefix without an epoch in its name and without global_step: epoch 1, step 0
    let src = tf_bundle::Checkpoint::open(native().join("net-model/network.003")).unwrap();
    let prefix = tmp.path().join("model");
    let mut bw = tf_bundle::write::BundleWriter::create(&prefix).unwrap();
    for t in src.tensors() {
        if t.name == "global_step" {
            continue;
        }
        let tf_bundle::TensorData::Bytes(b) = src.read(&t.name).unwrap().data else {
            unreachable!()
        };
        bw.add_bytes(&t.name, t.dtype, &t.shape, &b).unwrap();
    }
    bw.finish().unwrap();
    let mut req = request(&rules, Some(tmp.path().join("d.pt")));
    req.checkpoint = prefix;
    let w = engine::port::run(&req, &NoProgress)
        .unwrap()
        .written
        .unwrap();
    assert_eq!((w.epoch, w.step), (Some(1), Some(0)));
    // flat layout: the state dict at the top level, no metadata
    let mut req = request(&rules, Some(tmp.path().join("f.pt")));
    req.pt_layout = PtLayout::Flat;
    let w = engine::port::run(&req, &NoProgress)
        .unwrap()
        .written
        .unwrap();
    assert_eq!((w.layout, w.epoch), (Some("flat"), None));
    let f = torch_pt::PtFile::open(tmp.path().join("f.pt")).unwrap();
    assert_eq!(f.state_dict().unwrap().under, None);
    assert_eq!(f.returnn_scalars().epoch, None);
    // epoch/step for outputs that cannot store them
    for (out, layout) in [
        ("g.safetensors", PtLayout::Returnn),
        ("g.pt", PtLayout::Flat),
    ] {
        let mut req = request(&rules, Some(tmp.path().join(out)));
        req.pt_layout = layout;
        req.epoch = Some(2);
        let e = engine::port::run(&req, &NoProgress).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{out}");
        assert!(!tmp.path().join(out).exists());
    }
}

#[test]
fn targets_in_every_form_give_the_same_plan_and_order() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = suggested_rules(tmp.path());
    // a target list in a model's own order (not sorted)
    let order = [
        "hid.weight",
        "hid.bias",
        "fw0.ff_weight",
        "fw0.rec_weight",
        "fw0.bias",
        "output.weight",
        "output.bias",
    ];
    let plain = engine::port::run(&request(&rules, None), &NoProgress).unwrap();
    let list: Vec<serde_json::Value> = order
        .iter()
        .map(|n| {
            let p = plain.plan.param(n).unwrap();
            serde_json::json!({"name": n, "dtype": format!("torch.{}", p.dtype.name()), "shape": p.shape})
        })
        .collect();
    let json = tmp.path().join("target.json");
    std::fs::write(&json, serde_json::json!({ "variables": list }).to_string()).unwrap();
    let mut req = request(&rules, Some(tmp.path().join("from-json.pt")));
    req.target = Some(json);
    let r = engine::port::run(&req, &NoProgress).unwrap();
    assert!(r.plan.checked_against_target);
    let (t, _) = read_pt(&tmp.path().join("from-json.pt"));
    assert_eq!(t.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(), order);
    // that .pt as the target, then the safetensors output as the target
    let mut req = request(&rules, Some(tmp.path().join("from-pt.safetensors")));
    req.target = Some(tmp.path().join("from-json.pt"));
    let r2 = engine::port::run(&req, &NoProgress).unwrap();
    assert_eq!(r2.plan.params, r.plan.params);
    let bytes = std::fs::read(tmp.path().join("from-pt.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, dtype, shape, data) in &t {
        let v = st.tensor(name).unwrap();
        assert_eq!(
            v.shape().iter().map(|&d| d as u64).collect::<Vec<_>>(),
            *shape
        );
        assert_eq!(v.data(), data.as_slice(), "{name} ({dtype})");
    }
    let mut req = request(&rules, Some(tmp.path().join("from-st.pt")));
    req.target = Some(tmp.path().join("from-pt.safetensors"));
    let r3 = engine::port::run(&req, &NoProgress).unwrap();
    assert_eq!(r3.plan.params, r.plan.params);
    // a target that is none of these
    let mut req = request(&rules, None);
    req.target = Some(native().join("net-model/network.003"));
    let e = engine::port::run(&req, &NoProgress).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Target);
}

#[test]
fn dtype_mismatch_is_an_issue_unless_the_rules_cast() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = suggested_rules(tmp.path());
    let plain = engine::port::run(&request(&rules, None), &NoProgress).unwrap();
    let list: Vec<serde_json::Value> = plain
        .plan
        .params
        .iter()
        .map(|p| {
            let d = if p.target == "hid.weight" {
                "float16"
            } else {
                "float32"
            };
            serde_json::json!({"name": p.target, "dtype": d, "shape": p.shape})
        })
        .collect();
    let json = tmp.path().join("target.json");
    std::fs::write(&json, serde_json::json!({ "variables": list }).to_string()).unwrap();
    let out = tmp.path().join("c.pt");
    let mut req = request(&rules, Some(out.clone()));
    req.target = Some(json.clone());
    let e = engine::port::run(&req, &NoProgress).unwrap_err();
    assert_eq!(e.label(), "dtype_mismatch");
    assert_eq!(e.key(), Some("hid.weight"));
    assert_eq!(e.path(), Some(json.as_path()));
    assert!(e.hint().unwrap().contains("cast = true"));
    assert!(!out.exists());
    let text = std::fs::read_to_string(&rules)
        .unwrap()
        .replace("cast = false", "cast = true");
    req.rules = RulesInput::Text {
        text,
        filename: "cast.toml".into(),
    };
    let r = engine::port::run(&req, &NoProgress).unwrap();
    let (t, _) = read_pt(&out);
    let hw = t.iter().find(|x| x.0 == "hid.weight").unwrap();
    assert_eq!(hw.1, "float16");
    let ckpt = tf_bundle::Checkpoint::open(native().join("net-model/network.003")).unwrap();
    let want = r.plan.param("hid.weight").unwrap().compute(&ckpt).unwrap();
    assert_eq!(want.dtype, tf_bundle::DType::Float16);
    assert_eq!(hw.3, want.data);
}

#[test]
fn errors_have_kinds_files_keys_and_exit_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = suggested_rules(tmp.path());
    let run = |req: &PortRequest| engine::port::run(req, &NoProgress).unwrap_err();
    // the rules file
    let e = run(&request(&tmp.path().join("nosuch.toml"), None));
    assert_eq!(
        (e.kind(), e.outcome()),
        (ErrorKind::RulesFile, Outcome::Failed)
    );
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "version = 1\n[defaults]\nstyle = \"rf\"\nautox = true\n",
    )
    .unwrap();
    let e = run(&request(&bad, None));
    assert_eq!((e.label(), e.outcome()), ("rules_syntax", Outcome::Failed));
    assert_eq!(e.path(), Some(bad.as_path()));
    assert!(e.message().contains("line 4"), "{}", e.message());
    std::fs::write(&bad, "version = 2\n").unwrap();
    assert_eq!(run(&request(&bad, None)).label(), "rules_invalid");
    std::fs::write(&bad, [0xff, 0xfe, b'\n']).unwrap();
    assert_eq!(run(&request(&bad, None)).kind(), ErrorKind::RulesFile);
    // a plan issue: unmapped variables (no presets)
    let none = tmp.path().join("none.toml");
    std::fs::write(&none, "version = 1\n[defaults]\nauto = false\n").unwrap();
    let r = engine::port::run(&request(&none, None), &NoProgress).unwrap();
    assert!(!r.plan.ok);
    assert_eq!(r.plan.unmapped.len(), 7);
    let e = run(&request(&none, Some(tmp.path().join("x.pt"))));
    assert_eq!(
        (e.label(), e.outcome()),
        ("unmapped_variable", Outcome::Negative)
    );
    assert_eq!(e.key(), Some("fw0/rec/W"));
    assert!(e.message().starts_with("the port plan has 7 issues"));
    // the checkpoint
    let mut req = request(&rules, None);
    req.checkpoint = tmp.path().join("nosuch");
    assert_eq!(run(&req).outcome(), Outcome::Failed);
    // the output: existing, wrong extension, a directory, an input
    let out = tmp.path().join("o.pt");
    std::fs::write(&out, b"keep").unwrap();
    let e = run(&request(&rules, Some(out.clone())));
    assert_eq!(e.kind(), ErrorKind::Output);
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
    let mut req = request(&rules, Some(out.clone()));
    req.force = true;
    engine::port::run(&req, &NoProgress).unwrap();
    assert_ne!(std::fs::read(&out).unwrap(), b"keep");
    for bad_out in [tmp.path().join("o.bin"), tmp.path().to_path_buf()] {
        assert_eq!(
            run(&request(&rules, Some(bad_out))).outcome(),
            Outcome::Failed
        );
    }
    let mut req = request(&rules, Some(out.clone()));
    req.target = Some(out.clone());
    req.force = true;
    assert_eq!(run(&req).kind(), ErrorKind::InvalidArgument);
    // the config: a network that is not a dict
    let cfg = tmp.path().join("net.config");
    std::fs::write(&cfg, "{\"network\": [1, 2]}").unwrap();
    let mut req = request(&rules, None);
    req.config = Some(ConfigRequest::file(&cfg, vec![], tmp.path()));
    let e = run(&req);
    assert_eq!(
        (e.label(), e.outcome()),
        ("network_invalid", Outcome::Failed)
    );
    assert_eq!(e.path(), Some(cfg.as_path()));
}

#[test]
fn a_value_that_cannot_be_computed_leaves_no_output_and_no_temp_file() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = suggested_rules(tmp.path());
    // a copy of the checkpoint with one byte of `output/W` flipped: the plan (names, shapes)
    // is fine, reading the value fails its CRC
    let ck = tmp.path().join("ck");
    std::fs::create_dir(&ck).unwrap();
    for f in ["network.003.index", "network.003.data-00000-of-00001"] {
        std::fs::copy(native().join("net-model").join(f), ck.join(f)).unwrap();
    }
    let src = tf_bundle::Checkpoint::open(ck.join("network.003")).unwrap();
    let entry = src
        .bundle()
        .unwrap()
        .entry(b"output/W")
        .unwrap()
        .entry
        .clone()
        .unwrap();
    let data = ck.join("network.003.data-00000-of-00001");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[entry.offset as usize + 3] ^= 0x40;
    std::fs::write(&data, bytes).unwrap();
    let out_dir = tmp.path().join("outs");
    std::fs::create_dir(&out_dir).unwrap();
    for out in ["m.pt", "m.safetensors"] {
        let mut req = request(&rules, Some(out_dir.join(out)));
        req.checkpoint = ck.join("network.003");
        let e = engine::port::run(&req, &NoProgress).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::Port(engine::port::PortErrorKind::Read),
            "{out}"
        );
        assert_eq!(e.key(), Some("output/W"));
        assert!(
            e.message().contains("checksum") || e.message().contains("CRC"),
            "{}",
            e.message()
        );
        assert_eq!(dir_names(&out_dir), Vec::<String>::new(), "{out}");
    }
}

#[test]
fn suggest_writes_atomically_and_refuses_to_replace() {
    let tmp = tempfile::tempdir().unwrap();
    let out = suggested_rules(tmp.path());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("[[layer]]"));
    let req = SuggestRequest {
        checkpoint: native().join("net-model/network.003"),
        config: None,
        target: None,
        out: Some(out.clone()),
        force: false,
        style: None,
    };
    assert_eq!(
        engine::port::suggest(&req).unwrap_err().kind(),
        ErrorKind::Output
    );
    let mut req2 = req.clone();
    req2.out = Some(tmp.path().join("rules.txt"));
    assert_eq!(
        engine::port::suggest(&req2).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let mut req3 = req;
    req3.force = true;
    let r = engine::port::suggest(&req3).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), r.rules);
    assert_eq!(r.layers, 3);
    assert_eq!(dir_names(tmp.path()), vec!["native-rules.toml".to_string()]);
}

/// A random checkpoint of linear / conv / batch-norm layers in random float dtypes.
fn random_ckpt(
    dir: &Path,
    layers: &[(u8, u64, u64, bool, u8)],
) -> (PathBuf, BTreeMap<String, Vec<u8>>) {
    let prefix = dir.join("rand");
    let mut w = tf_bundle::write::BundleWriter::create(&prefix).unwrap();
    let mut all = BTreeMap::new();
    let mut seed = 1u32;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 24) as u8 & 0x3f // finite values for every float dtype
            })
            .collect()
    };
    for (i, &(kind, a, b, bias, dt)) in layers.iter().enumerate() {
        let dtype = [
            tf_bundle::DType::Float32,
            tf_bundle::DType::Float16,
            tf_bundle::DType::BFloat16,
            tf_bundle::DType::Float64,
        ][dt as usize % 4];
        let es = dtype.element_size().unwrap();
        let mut add = |name: String, shape: Vec<u64>| {
            let n: u64 = shape.iter().product();
            let data = bytes(n as usize * es);
            w.add_bytes(&name, dtype, &shape, &data).unwrap();
            all.insert(name, data);
        };
        match kind % 3 {
            0 => {
                add(format!("l{i}/W"), vec![a, b]);
                if bias {
                    add(format!("l{i}/b"), vec![b]);
                }
            }
            1 => {
                add(format!("c{i}/W"), vec![3, a, b]);
                if bias {
                    add(format!("c{i}/bias"), vec![b]);
                }
            }
            _ => {
                for s in ["mean", "variance", "gamma", "beta"] {
                    add(format!("n{i}/batch_norm/v2_{s}"), vec![a]);
                }
            }
        }
    }
    w.finish().unwrap();
    (prefix, all)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Round trip through both writers: suggest -> plan -> `.pt` and `.safetensors`; every
    /// tensor read back equals the plan's computation from the source.
    #[test]
    fn written_outputs_read_back_as_computed(
        layers in proptest::collection::vec((0u8..3, 1u64..6, 1u64..6, any::<bool>(), 0u8..4), 1..5),
        torch_style in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let (prefix, _) = random_ckpt(tmp.path(), &layers);
        let mut text = engine::port::suggest(&SuggestRequest {
            checkpoint: prefix.clone(), config: None, target: None, out: None, force: false, style: None,
        }).unwrap().rules;
        if torch_style {
            for (a, b) in [("rf.Linear", "nn.Linear"), ("rf.Conv1d", "nn.Conv1d"), ("rf.BatchNorm", "nn.BatchNorm1d")] {
                text = text.replace(&format!("\"{a}\""), &format!("\"{b}\""));
            }
        }
        let ckpt = tf_bundle::Checkpoint::open(&prefix).unwrap();
        for out in ["o.pt", "o.safetensors"] {
            let mut req = PortRequest::new(&prefix, RulesInput::Text { text: text.clone(), filename: "r.toml".into() });
            req.out = Some(tmp.path().join(out));
            let r = engine::port::run(&req, &NoProgress).unwrap();
            prop_assert!(r.plan.ok);
            let got: BTreeMap<String, (String, Vec<u64>, Vec<u8>)> = if out.ends_with(".pt") {
                read_pt(&tmp.path().join(out)).0.into_iter().map(|(n, d, s, b)| (n, (d, s, b))).collect()
            } else {
                let bytes = std::fs::read(tmp.path().join(out)).unwrap();
                let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
                st.tensors().into_iter().map(|(n, v)| {
                    let d = convert::tf_dtype(v.dtype()).unwrap().name().to_string();
                    (n, (d, v.shape().iter().map(|&x| x as u64).collect(), v.data().to_vec()))
                }).collect()
            };
            prop_assert_eq!(got.len(), r.plan.params.len());
            for p in &r.plan.params {
                let v = p.compute(&ckpt).unwrap();
                let g = &got[&p.target];
                prop_assert_eq!((g.0.as_str(), &g.1, &g.2), (v.dtype.name(), &v.shape, &v.data));
            }
        }
    }
}
