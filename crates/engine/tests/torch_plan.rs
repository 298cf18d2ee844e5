//! The torch-engine adapter on real files: Python configs parsed by returnn-config, safetensors
//! and TF bundles on disk, `.pt` files written by torch-pt's writer and read by its reader,
//! paths against an explicit base directory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::Path;

use engine::torch_plan::{
    check_get_model, load_engine, load_torch_targets, plan_torch_config, torch_targets_from_json,
    LoadEngine, TorchPlanRequest,
};
use param_map::torch::{TorchParam, TorchStatus};
use returnn_config::Config;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use tf_bundle::write::BundleWriter;
use tf_bundle::{DType, TensorData};

fn f32_bytes(vals: &[f32]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn write_safetensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| (n.to_string(), s.clone(), f32_bytes(v)))
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn write_bundle(prefix: &Path, tensors: &[(&str, Vec<u64>, Vec<f32>)]) {
    let mut w = BundleWriter::create(prefix).unwrap();
    for (n, s, v) in tensors {
        w.add(n, DType::Float32, s, &TensorData::Bytes(f32_bytes(v)))
            .unwrap();
    }
    w.finish().unwrap();
}

fn config(dir: &Path, text: &str) -> Config {
    let p = dir.join("returnn.config");
    std::fs::write(
        &p,
        format!("#!rnn.py\n{text}\n\ndef get_model(**_kw):\n    pass\n"),
    )
    .unwrap();
    Config::load(&p).unwrap()
}

fn params(list: &[(&str, &[u64])]) -> Vec<TorchParam> {
    list.iter()
        .map(|(n, s)| TorchParam::new(*n, DType::Float32, s.to_vec()))
        .collect()
}

fn values(plan: &engine::torch_plan::TorchEnginePlan) -> Vec<(String, String, Vec<f64>)> {
    let mut out = Vec::new();
    plan.for_each_value(&mut |a, v| {
        out.push((a.param.clone(), a.file.clone(), v.to_f64_vec().unwrap()));
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn t_file_1_2_safetensors_main_and_prefixed_preload_relative_to_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("ckpt")).unwrap();
    write_safetensors(
        &d.join("ckpt/main.safetensors"),
        &[
            ("enc.w", vec![2], vec![1.0, 2.0]),
            ("lm.w", vec![2], vec![3.0, 4.0]),
        ],
    );
    write_safetensors(&d.join("lm.safetensors"), &[("w", vec![2], vec![5.0, 6.0])]);
    let c = config(
        d,
        "backend = 'torch'\ntask = 'forward'\nload = 'ckpt/main.safetensors'\n\
         preload_from_files = {'lm': {'filename': 'lm.safetensors', 'prefix': 'lm.', 'checkpoint_key': None}}",
    );
    assert_eq!(load_engine(&c).unwrap(), LoadEngine::Torch);
    let plan = plan_torch_config(TorchPlanRequest {
        config: &c,
        base: d,
        params: params(&[("enc.w", &[2]), ("lm.w", &[2])]),
        module_class: None,
        fresh: false,
    })
    .unwrap();
    assert_eq!(
        plan.main_checkpoint.as_deref(),
        Some("ckpt/main.safetensors")
    );
    assert_eq!(
        values(&plan),
        vec![
            (
                "enc.w".into(),
                "ckpt/main.safetensors".into(),
                vec![1.0, 2.0]
            ),
            ("lm.w".into(), "lm.safetensors".into(), vec![5.0, 6.0]),
        ]
    );
}

#[test]
fn t_ckey_2_default_checkpoint_key_on_safetensors_is_a_key_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_safetensors(&d.join("x.safetensors"), &[("w", vec![1], vec![1.0])]);
    let c = config(
        d,
        "backend = 'torch'\ntask = 'forward'\nallow_random_model_init = True\n\
         preload_from_files = {'a': {'filename': 'x.safetensors'}}",
    );
    let e = plan_torch_config(TorchPlanRequest {
        config: &c,
        base: d,
        params: params(&[("w", &[1])]),
        module_class: None,
        fresh: false,
    })
    .err()
    .unwrap();
    assert_eq!(e.label(), "checkpoint_key_missing");
    assert!(e.message().starts_with("KeyError: 'model' ("), "{e}");
}

/// A RETURNN `.pt` (`{"model": {"w": [7.0]}, "epoch": 2, "step": 4, ...}`) by torch-pt's writer.
fn write_pt(path: &Path) {
    let meta = torch_pt::ReturnnMeta {
        epoch: 2,
        step: 4,
        effective_learning_rate: None,
        returnn_version: "test".into(),
    };
    let mut w = torch_pt::StateDictWriter::create(path, torch_pt::Layout::Returnn(meta)).unwrap();
    w.add(
        "w",
        torch_pt::DType::F32,
        &[1],
        &mut f32_bytes(&[7.0]).as_slice(),
    )
    .unwrap();
    w.commit().unwrap();
}

#[test]
fn t_file_3_opt_1_existing_epochs_need_the_optimizer_file_pt_through_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("net-model")).unwrap();
    write_pt(&d.join("net-model/network.001.pt"));
    std::fs::write(d.join("net-model/network.001.opt.pt"), b"opt").unwrap();
    let c = config(
        d,
        "backend = 'torch'\ntask = 'train'\nmodel = 'net-model/network'",
    );
    let req = || TorchPlanRequest {
        config: &c,
        base: d,
        params: params(&[("w", &[1])]),
        module_class: None,
        fresh: false,
    };
    let plan = plan_torch_config(req()).unwrap();
    assert_eq!(
        plan.main_checkpoint.as_deref(),
        Some("net-model/network.001.pt")
    );
    assert_eq!(plan.plan.epoch, 1);
    // T-STEP-1: the stored step 4 is 3 after loading, plus one in training
    assert_eq!((plan.epoch, plan.step), (Some(2), Some(4)));
    assert_eq!(values(&plan)[0].2, vec![7.0]);
    // fresh: the run's own files are its output, so nothing loads
    let fresh = plan_torch_config(TorchPlanRequest {
        fresh: true,
        ..req()
    })
    .unwrap();
    assert_eq!(fresh.main_checkpoint, None);
    // without the .opt.pt the epoch does not count as existing for training: nothing loads
    std::fs::remove_file(d.join("net-model/network.001.opt.pt")).unwrap();
    let plan = plan_torch_config(req()).unwrap();
    assert_eq!(plan.main_checkpoint, None);
    assert_eq!(plan.plan.params[0].status, TorchStatus::RandomInit);
    // T-OPT-1: `load` of an epoch-5 file in training continues at epoch 6 and then opens
    // <model>.005.opt.pt, which does not exist
    write_pt(&d.join("conv.005.pt"));
    let c2 = config(
        d,
        "backend = 'torch'\ntask = 'train'\nmodel = 'net-model/network'\nload = 'conv.005.pt'",
    );
    let e = plan_torch_config(TorchPlanRequest {
        config: &c2,
        base: d,
        params: params(&[("w", &[1])]),
        module_class: None,
        fresh: false,
    })
    .err()
    .unwrap();
    assert!(
        e.message().starts_with(
            "FileNotFoundError: [Errno 2] No such file or directory: 'net-model/network.005.opt.pt'"
        ),
        "{e}"
    );
}

#[test]
fn f_order_1_opt_1_rf_model_on_the_tf_engine_preloads_in_training() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_bundle(
        &d.join("main.ckpt"),
        &[
            ("enc.w", vec![2], vec![1.0, 2.0]),
            ("lm.w", vec![2], vec![9.0, 9.0]),
        ],
    );
    std::fs::write(d.join("main.ckpt.meta"), b"").unwrap();
    write_bundle(&d.join("lm.ckpt"), &[("w", vec![2], vec![5.0, 6.0])]);
    let c = config(
        d,
        "backend = 'tensorflow'\ntask = 'train'\nload = 'main.ckpt'\n\
         preload_from_files = {'lm': {'filename': 'lm.ckpt', 'prefix': 'lm.'}}",
    );
    assert_eq!(load_engine(&c).unwrap(), LoadEngine::RfTf);
    let plan = plan_torch_config(TorchPlanRequest {
        config: &c,
        base: d,
        params: params(&[("enc.w", &[2]), ("lm.w", &[2])]),
        module_class: None,
        fresh: false,
    })
    .unwrap();
    assert_eq!(
        values(&plan),
        vec![
            ("enc.w".into(), "main.ckpt".into(), vec![1.0, 2.0]),
            ("lm.w".into(), "lm.ckpt".into(), vec![5.0, 6.0]),
        ]
    );
    // the issue's scenario: init_for_train is not implemented there
    let c = config(
        d,
        "backend = 'tensorflow'\ntask = 'train'\nload = 'main.ckpt'\n\
         preload_from_files = {'lm': {'filename': 'lm.ckpt', 'prefix': 'lm.', 'init_for_train': True}}",
    );
    let e = plan_torch_config(TorchPlanRequest {
        config: &c,
        base: d,
        params: params(&[("enc.w", &[2]), ("lm.w", &[2])]),
        module_class: None,
        fresh: false,
    })
    .err()
    .unwrap();
    assert!(e.message().starts_with(
        "AssertionError: preload_from_files['lm']: options ['init_for_train'] not implemented on the TF engine (supported: ['filename', 'ignore_missing', 'prefix'])"
    ), "{e}");
}

#[test]
fn get_model_must_be_a_python_definition() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let py = config(d, "backend = 'torch'");
    assert!(check_get_model(&py).is_ok());
    let json = d.join("c.json");
    std::fs::write(&json, r#"{"backend": "torch", "get_model": "make"}"#).unwrap();
    let e = check_get_model(&Config::load(&json).unwrap()).unwrap_err();
    assert_eq!(e.message(), "TypeError: 'str' object is not callable");
    std::fs::write(&json, r#"{"backend": "tensorflow"}"#).unwrap();
    let e = check_get_model(&Config::load(&json).unwrap()).unwrap_err();
    assert_eq!(
        e.message(),
        "AssertionError: get_model not defined in config"
    );
}

#[test]
fn json_targets_carry_the_flags() {
    let t = br#"{"variables": [
        {"name": "a", "shape": [2], "dtype": "torch.float16", "buffer": true},
        {"name": "b", "shape": [], "non_critical": true, "aux": true, "tied_to": "a"}]}"#;
    let p = torch_targets_from_json(t, Path::new("t.json")).unwrap();
    assert_eq!(p[0].dtype, DType::Float16);
    assert!(p[0].buffer && !p[0].aux);
    assert!(p[1].non_critical && p[1].aux);
    assert_eq!(p[1].tied_to.as_deref(), Some("a"));
    assert!(
        torch_targets_from_json(br#"{"variables": [{"name": "a"}]}"#, Path::new("t.json")).is_err()
    );
    // a state-dict file as the target: its tensors, no flags
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.safetensors");
    write_safetensors(
        &f,
        &[("b", vec![2], vec![1.0, 2.0]), ("a", vec![], vec![3.0])],
    );
    let p = load_torch_targets(&f).unwrap().params;
    let names: Vec<(&str, &[u64])> = p
        .iter()
        .map(|x| (x.name.as_str(), x.shape.as_slice()))
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&("b", &[2][..])) && names.contains(&("a", &[][..])));
    let j = dir.path().join("t.json");
    std::fs::write(&j, t).unwrap();
    assert_eq!(load_torch_targets(&j).unwrap().params.len(), 2);
}

#[test]
fn t_epoch_1_resolve_reads_the_stored_epoch_when_the_name_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pt(&d.join("conv.pt"));
    config(d, "backend = 'torch'\ntask = 'forward'\nload = 'conv.pt'");
    let req = engine::resolve::ResolveRequest {
        config: engine::config::ConfigRequest::file(d.join("returnn.config"), vec![], d),
    };
    let r = engine::resolve::run(&req).unwrap();
    assert_eq!((r.epoch, r.checkpoint_epoch), (None, Some(2)));
    assert_eq!(r.model.as_deref(), Some("conv"));
    assert!(
        r.notes.iter().any(|n| n.starts_with("resolve: ")),
        "{:?}",
        r.notes
    );
    // the plan agrees: the engine's epoch is the stored one (not training: no increment)
    let p = engine::plan::run(&engine::plan::PlanRequest {
        config: req.config.clone(),
        target: d.join("conv.pt"),
        fresh: None,
    })
    .unwrap();
    assert_eq!(p.engine, Some("torch"));
    assert_eq!(p.epoch, Some(Some(2)));
    // step: stored 4, minus one outside training
    assert_eq!(p.step, Some(Some(3)));
    assert_eq!(p.variables["w"].status, "loaded");
    // a file that is no .pt: no epoch, a note, no error (selection does not open files)
    std::fs::write(d.join("conv.pt"), b"not a zip").unwrap();
    let r = engine::resolve::run(&req).unwrap();
    assert_eq!(r.checkpoint_epoch, None);
    assert!(
        r.notes.iter().any(|n| n.contains("could not be read")),
        "{:?}",
        r.notes
    );
}

#[test]
fn load_writes_the_module_as_pt_with_casts_and_refuses_tf_outputs_for_torch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pt(&d.join("conv.pt"));
    // torch counts the tied name v as missing (its own key is absent): declared random here,
    // it still holds w's value (one tensor)
    config(
        d,
        "backend = 'torch'\ntask = 'forward'\nload = 'conv.pt'\n\
         preload_from_files = {'x': {'filename': None, 'pattern': 'v'}}",
    );
    // the module holds w as float64 and a tied copy v
    std::fs::write(
        d.join("t.json"),
        br#"{"variables": [{"name": "w", "shape": [1], "dtype": "float64"},
                           {"name": "v", "shape": [1], "dtype": "float64", "tied_to": "w"}]}"#,
    )
    .unwrap();
    let plan = engine::plan::PlanRequest {
        config: engine::config::ConfigRequest::file(d.join("returnn.config"), vec![], d),
        target: d.join("t.json"),
        fresh: None,
    };
    let p = engine::plan::run(&plan).unwrap();
    assert_eq!(p.variables["w"].cast, Some(Some("float32->float64".into())));
    assert_eq!(p.variables["v"].rule.as_deref(), Some("tied"));
    let out = d.join("o.pt");
    let r = engine::load::run(
        &engine::load::LoadRequest {
            plan: plan.clone(),
            out: out.clone(),
            force: false,
        },
        &engine::NoProgress,
    )
    .unwrap();
    assert_eq!(r.written, 2);
    let f = torch_pt::PtFile::open(&out).unwrap();
    let sd = f.state_dict().unwrap();
    assert_eq!(sd.under.as_deref(), Some("model"));
    let w = sd.get("w").unwrap();
    assert_eq!(w.info.dtype, torch_pt::DType::F64);
    assert_eq!(f.read(w).unwrap(), 7.0f64.to_le_bytes().to_vec());
    // one storage under two names
    assert_eq!(sd.get("v").unwrap().info.storage.key, w.info.storage.key);
    assert_eq!(f.returnn_scalars().epoch, Some(2));
    // an existing output needs force; a TF prefix is refused for the PyTorch engine
    let again = engine::load::run(
        &engine::load::LoadRequest {
            plan: plan.clone(),
            out: out.clone(),
            force: false,
        },
        &engine::NoProgress,
    );
    assert!(again.is_err());
    let e = engine::load::run(
        &engine::load::LoadRequest {
            plan,
            out: d.join("prefix"),
            force: false,
        },
        &engine::NoProgress,
    )
    .unwrap_err();
    assert_eq!(e.label(), "invalid_argument");
    assert!(!d.join("prefix.index").exists());
}
