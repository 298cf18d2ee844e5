//! Engine-level rules (docs/returnn-engine.md §6-§8; docs/returnn-mapping.md R-ENG, R-PREC, R-LPF):
//! which preload entries apply for a task and epoch, their order, and the main checkpoint.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use engine::{plan_config as plan, EnginePlan};
use param_map::{Status, TargetVar};
use returnn_config::Config;
use tf_bundle::DType;

fn src() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/returnn_train_nativelstm/net-model/network.003")
        .to_string_lossy()
        .into_owned()
}

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/returnn_train_nativelstm/net-model")
}

/// The variables of the source network (same names), plus `extra`.
fn targets(extra: &[&str]) -> Vec<TargetVar> {
    let ck = tf_bundle::Checkpoint::open(src()).unwrap();
    let mut v: Vec<TargetVar> = ck
        .tensors()
        .iter()
        .map(|t| TargetVar::new(t.name.clone(), t.dtype, t.shape.clone()))
        .collect();
    for e in extra {
        v.push(TargetVar::new(*e, DType::Float32, vec![2]));
    }
    v
}

fn cfg(body: &str) -> Config {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("nothing/network");
    let text = format!("#!rnn.py\nmodel = {:?}\n{body}\n", model.to_string_lossy());
    Config::from_text(&text, "test.config").unwrap()
}

fn entry_of(p: &EnginePlan, name: &str) -> (Status, Option<String>) {
    let v = p
        .plan
        .variables
        .iter()
        .find(|v| v.var.name == name)
        .unwrap();
    (v.status, v.entry.clone())
}

fn three_entries(task: &str, extra: &str) -> String {
    let s = src();
    format!(
        r#"task = "{task}"
{extra}
preload_from_files = {{
  "t_true": {{"filename": "{s}", "init_for_train": True, "ignore_params_prefixes": ["output/", "fw0/"]}},
  "t_always": {{"filename": "{s}", "init_for_train": "always", "ignore_params_prefixes": ["hid/", "fw0/"]}},
  "t_false": {{"filename": "{s}", "init_for_train": False, "ignore_params_prefixes": ["hid/", "output/"]}},
}}
"#
    )
}

#[test]
fn r_eng_2_3_init_for_train_against_task() {
    // task=train, fresh start: True and "always" entries apply, False does not.
    let p = plan(&cfg(&three_entries("train", "")), targets(&[])).unwrap();
    assert_eq!(
        entry_of(&p, "hid/W"),
        (Status::Loaded, Some("t_true".into()))
    );
    assert_eq!(
        entry_of(&p, "output/W"),
        (Status::Loaded, Some("t_always".into()))
    );
    assert_eq!(entry_of(&p, "fw0/rec/W"), (Status::RandomInit, None));
    assert_eq!(entry_of(&p, "global_step"), (Status::RandomInit, None));
    // task=forward with load: only the False entry, then the main checkpoint for the rest.
    let load = format!("load = {:?}", src());
    let p = plan(&cfg(&three_entries("forward", &load)), targets(&[])).unwrap();
    assert_eq!(
        entry_of(&p, "fw0/rec/W"),
        (Status::Loaded, Some("t_false".into()))
    );
    assert_eq!(entry_of(&p, "hid/W"), (Status::Loaded, Some("load".into())));
    assert_eq!(
        entry_of(&p, "global_step"),
        (Status::Loaded, Some("load".into()))
    );
    assert_eq!(p.epoch, Some(3));
}

#[test]
fn resumed_training_applies_no_preload() {
    let model = model_dir().join("network");
    let text = format!(
        "#!rnn.py\nmodel = {:?}\nnum_epochs = 3\n{}",
        model.to_string_lossy(),
        three_entries("train", "")
    );
    let c = Config::from_text(&text, "test.config").unwrap();
    let p = plan(&c, targets(&[])).unwrap();
    assert_eq!(p.epoch, Some(3));
    for v in &p.plan.variables {
        assert_eq!(v.entry.as_deref(), Some("load"), "{}", v.var.name);
    }
}

#[test]
fn r_prec_1_sorted_key_order_first_registrant_wins() {
    let s = src();
    let body = format!(
        r#"preload_from_files = {{
  "z_A": {{"filename": "{s}", "init_for_train": True}},
  "y_B": {{"filename": "{s}", "init_for_train": True}},
}}"#
    );
    let p = plan(&cfg(&body), targets(&[])).unwrap();
    for v in &p.plan.variables {
        if v.var.name != "global_step" {
            assert_eq!(v.entry.as_deref(), Some("y_B"), "{}", v.var.name);
        }
    }
    assert!(p
        .plan
        .notes
        .iter()
        .any(|n| n.contains("[z_A] Not loading pre-initialized variable")));
}

#[test]
fn r_prec_4_import_never_overwrites_preloaded_and_load_ignore_missing_vars() {
    let s = src();
    let preload = format!(
        r#"import_model_train_epoch1 = "{s}"
preload_from_files = {{"a": {{"filename": "{s}", "init_for_train": True, "ignore_params_prefixes": ["output/", "fw0/", "new/"]}}}}"#
    );
    // new/W is missing in the import: RETURNN's main load fails...
    let e = plan(&cfg(&preload), targets(&["new/W"])).err().unwrap();
    assert_eq!(e.label(), "missing_vars");
    assert!(e.message().contains("could_not_find_map_list: ['new/W']"));
    // ... unless load_ignore_missing_vars.
    let body = format!("{preload}\nload_ignore_missing_vars = True");
    let p = plan(&cfg(&body), targets(&["new/W"])).unwrap();
    assert_eq!(entry_of(&p, "hid/W"), (Status::Loaded, Some("a".into())));
    assert_eq!(
        entry_of(&p, "output/W"),
        (Status::Loaded, Some("load".into()))
    );
    assert_eq!(
        entry_of(&p, "new/W"),
        (Status::MissingIgnored, Some("load".into()))
    );
    assert_eq!(p.epoch, Some(1));
}

#[test]
fn config_errors_and_unsupported_features() {
    let s = src();
    // Python KeyError: 'filename'.
    let c = cfg(r#"preload_from_files = {"a": {"init_for_train": True}}"#);
    let e = plan(&c, targets(&[])).err().unwrap();
    assert_eq!(e.label(), "preload_filename_missing");
    // A Python callable cannot be run.
    let c = cfg(&format!(
        "def f(name, shape, reader):\n  return None\npreload_from_files = {{\"a\": {{\"filename\": \"{s}\", \"init_for_train\": True, \"custom_missing_load_func\": f}}}}"
    ));
    let e = plan(&c, targets(&[])).err().unwrap();
    assert_eq!(e.label(), "unsupported");
    // A missing preload file: TF's NotFoundError wording.
    let c = cfg(
        r#"preload_from_files = {"a": {"filename": "/nonexistent/x", "init_for_train": True}}"#,
    );
    let e = plan(&c, targets(&[])).err().unwrap();
    assert_eq!(e.label(), "checkpoint_not_found");
    assert!(e
        .message()
        .contains("Failed to find any matching files for /nonexistent/x"));
    // Non-train task with nothing to load.
    let c = cfg("task = \"search\"");
    let e = plan(&c, targets(&[])).err().unwrap();
    assert_eq!(e.label(), "no_model");
    // eval sets a start epoch first, so RETURNN fails at `assert self.epoch` instead.
    let c = cfg("task = \"eval\"");
    let e = plan(&c, targets(&[])).err().unwrap();
    assert_eq!(e.label(), "no_epoch");
    assert!(e.message().starts_with("AssertionError: task 'eval'"));
}

#[test]
fn custom_param_importer_of_top_level_layers_in_the_main_load_only() {
    let s = src();
    let net = r#"network = {"hid": {"class": "linear", "custom_param_importer": "reset", "n_out": 10},
  "fw0": {"class": "rec", "unit": "nativelstm2", "custom_param_importer": "ifpossible"},
  "output": {"class": "softmax"}}"#;
    let body = format!("{net}\nimport_model_train_epoch1 = \"{s}\"");
    let p = plan(&cfg(&body), targets(&[])).unwrap();
    assert_eq!(entry_of(&p, "hid/W"), (Status::RandomInit, None));
    assert_eq!(
        entry_of(&p, "fw0/rec/W"),
        (Status::Loaded, Some("load".into()))
    );
    assert_eq!(
        entry_of(&p, "output/W"),
        (Status::Loaded, Some("load".into()))
    );
    // Preload entries do not pass the network: the importer does not apply there.
    let body = format!(
        "{net}\npreload_from_files = {{\"a\": {{\"filename\": \"{s}\", \"init_for_train\": True}}}}"
    );
    let p = plan(&cfg(&body), targets(&[])).unwrap();
    assert_eq!(entry_of(&p, "hid/W"), (Status::Loaded, Some("a".into())));
    // A callable cannot be run.
    let body = format!(
        "def imp(**kwargs):\n  pass\nnetwork = {{\"hid\": {{\"class\": \"linear\", \"custom_param_importer\": imp}}}}\nimport_model_train_epoch1 = \"{s}\""
    );
    let e = plan(&cfg(&body), targets(&[])).err().unwrap();
    assert_eq!(e.label(), "unsupported");
}

fn sub_targets(extra: &[&str]) -> Vec<TargetVar> {
    let mut v: Vec<TargetVar> = targets(&[])
        .into_iter()
        .filter(|t| t.layer_param)
        .map(|t| TargetVar::new(format!("sub/{}", t.name), t.dtype, t.shape))
        .collect();
    for e in extra {
        v.push(TargetVar::new(*e, DType::Float32, vec![2]));
    }
    v
}

/// docs/returnn-mapping.md R-SUB-1/2 and R-PREC-5: SubnetworkLayer load_on_init (params_prefix `sub/`), run twice,
/// before and above every preload entry.
#[test]
fn r_sub_load_on_init() {
    let s = src();
    // Complete checkpoint: the second call is a no-op; preloads skip the subnetwork's vars.
    let body = format!(
        r#"network = {{"sub": {{"class": "subnetwork", "load_on_init": "{s}", "subnetwork": {{"hid": {{"class": "linear"}}}}}}}}
preload_from_files = {{"a": {{"filename": "{s}", "init_for_train": True, "ignore_missing": True}}}}"#
    );
    let p = plan(&cfg(&body), sub_targets(&[])).unwrap();
    for v in &p.plan.variables {
        assert_eq!(v.status, Status::Loaded, "{}", v.var.name);
        assert_eq!(
            v.entry.as_deref(),
            Some("sub.load_on_init"),
            "{}",
            v.var.name
        );
        let a = v.assignment.as_ref().unwrap();
        assert_eq!(a.rule.label(), "prefix");
        assert_eq!(format!("sub/{}", a.keys[0]), v.var.name);
    }
    // Partial checkpoint + ignore_missing: the second call raises "no vars to load".
    let body = format!(
        r#"network = {{"sub": {{"class": "subnetwork", "load_on_init": {{"filename": "{s}", "ignore_missing": True}}, "subnetwork": {{}}}}}}"#
    );
    let e = plan(&cfg(&body), sub_targets(&["sub/new/W"]))
        .err()
        .unwrap();
    assert_eq!(e.label(), "no_vars_to_load");
    assert!(e
        .message()
        .contains("saveable vars are [<tf.Variable 'sub/new/W:0'"));
    // A custom_param_importer in the subnetwork: the second call always raises.
    let body = format!(
        r#"network = {{"sub": {{"class": "subnetwork", "load_on_init": "{s}", "subnetwork": {{"hid": {{"class": "linear", "custom_param_importer": "subset"}}}}}}}}"#
    );
    let e = plan(&cfg(&body), sub_targets(&[])).err().unwrap();
    assert_eq!(e.label(), "no_vars_to_load");
    assert!(e.message().contains("saveable vars are []"));
}

/// The variables of a subnetwork at `prefix` whose layers are those of the source network, its
/// NativeLSTM `fw0` replaced by an `rnn_cell` LSTMBlock (`fw0/rec/lstm_cell/kernel`, `bias`),
/// as in RETURNN's `test_subnet_load_on_init_rec`.
fn lstm_block_targets(prefix: &str) -> Vec<TargetVar> {
    let ck = tf_bundle::Checkpoint::open(src()).unwrap();
    let shape = |n: &str| {
        ck.tensors()
            .iter()
            .find(|t| t.name == n)
            .unwrap()
            .shape
            .clone()
    };
    let (w, w_re) = (shape("fw0/rec/W"), shape("fw0/rec/W_re"));
    let mut v = vec![
        TargetVar::new(
            format!("{prefix}fw0/rec/lstm_cell/kernel"),
            DType::Float32,
            vec![w[0] + w_re[0], w[1]],
        ),
        TargetVar::new(
            format!("{prefix}fw0/rec/lstm_cell/bias"),
            DType::Float32,
            shape("fw0/rec/b"),
        ),
    ];
    for n in ["hid/W", "hid/b", "output/W", "output/b"] {
        v.push(TargetVar::new(
            format!("{prefix}{n}"),
            DType::Float32,
            shape(n),
        ));
    }
    v
}

const LSTM_BLOCK_SUBNET: &str = r#"{"fw0": {"class": "rnn_cell", "unit": "LSTMBlock", "unit_opts": {"forget_bias": 0.0}, "n_out": 10, "from": "data"},
  "hid": {"class": "linear", "activation": "tanh", "n_out": 10, "from": "fw0"},
  "output": {"class": "linear", "activation": "identity", "n_out": 2, "from": "hid"}}"#;

/// docs/returnn-mapping.md R-SUB-3 (issue 15, RETURNN's `test_subnet_load_on_init_rec`): a `SubnetworkLayer` with
/// `load_on_init` inside a `rec` unit loads into `<rec>/rec/<sub>/...` (params_prefix
/// `output/rec/output/`), converting NativeLSTM params to LSTMBlock, once (real RETURNN
/// constructs the loader once there), and before any preload entry.
#[test]
fn r_sub_3_load_on_init_in_rec_unit() {
    let s = src();
    let body = format!(
        r#"network = {{"output": {{"class": "rec", "optimize_move_layers_out": False, "from": "data", "unit": {{
  "output": {{"class": "subnetwork", "from": "data:source", "load_on_init": "{s}", "subnetwork": {LSTM_BLOCK_SUBNET}}}}}}}}}
preload_from_files = {{"a": {{"filename": "{s}", "init_for_train": True, "ignore_missing": True}}}}"#
    );
    let p = plan(&cfg(&body), lstm_block_targets("output/rec/output/")).unwrap();
    assert_eq!(p.plan.variables.len(), 6);
    for v in &p.plan.variables {
        assert_eq!(v.status, Status::Loaded, "{}", v.var.name);
        assert_eq!(
            v.entry.as_deref(),
            Some("output/output.load_on_init"),
            "{}",
            v.var.name
        );
    }
    let kernel = p
        .plan
        .variables
        .iter()
        .find(|v| v.var.name == "output/rec/output/fw0/rec/lstm_cell/kernel")
        .unwrap();
    let a = kernel.assignment.as_ref().unwrap();
    assert_eq!(a.rule.label(), "convert:native_lstm_to_basic_kernel");
    assert_eq!(a.keys, vec!["fw0/rec/W".to_string(), "fw0/rec/W_re".into()]);
    let hid = p
        .plan
        .variables
        .iter()
        .find(|v| v.var.name == "output/rec/output/hid/W")
        .unwrap();
    assert_eq!(hid.assignment.as_ref().unwrap().keys, vec!["hid/W"]);
}

/// docs/returnn-mapping.md R-SUB-3: inside a rec unit the loader runs once, so a partial
/// checkpoint with `ignore_missing` loads what it finds (at the top level the second call
/// raises "no vars to load", docs/returnn-mapping.md R-SUB-2); the rec layer's name (`dec`) and nesting inside a subnetwork
/// (`outer/dec/rec/sub/`) make the scope.
#[test]
fn r_sub_3_partial_in_rec_unit_runs_once() {
    let s = src();
    let body = format!(
        r#"network = {{"outer": {{"class": "subnetwork", "from": "data", "subnetwork": {{
  "output": {{"class": "rec", "from": "data", "unit": {{
    "sub": {{"class": "subnetwork", "from": "prev:output", "load_on_init": {{"filename": "{s}", "ignore_missing": True}}, "subnetwork": {LSTM_BLOCK_SUBNET}}},
    "output": {{"class": "linear", "n_out": 2, "from": ["sub", "data:source"]}}}}}}}}}}}}"#
    );
    let mut t = lstm_block_targets("outer/output/rec/sub/");
    t.push(TargetVar::new(
        "outer/output/rec/sub/new/W",
        DType::Float32,
        vec![2],
    ));
    t.push(TargetVar::new(
        "outer/output/rec/output/W",
        DType::Float32,
        vec![2],
    ));
    let p = plan(&cfg(&body), t).unwrap();
    let by = |n: &str| entry_of(&p, n);
    assert_eq!(
        by("outer/output/rec/sub/hid/W"),
        (Status::Loaded, Some("outer/output/sub.load_on_init".into()))
    );
    assert_eq!(
        by("outer/output/rec/sub/new/W"),
        (
            Status::MissingIgnored,
            Some("outer/output/sub.load_on_init".into())
        )
    );
    assert_eq!(by("outer/output/rec/output/W"), (Status::RandomInit, None));
    // Without ignore_missing the one loader raises on the missing variable.
    let body = body.replace(r#", "ignore_missing": True"#, "");
    let e = plan(
        &cfg(&body),
        vec![TargetVar::new(
            "outer/output/rec/sub/new/W",
            DType::Float32,
            vec![2],
        )],
    )
    .err()
    .unwrap();
    assert_eq!(e.label(), "missing_vars", "{}", e.message());
}

/// `load_on_init` where returnn-ckpt does not model the name scopes or the order (inside
/// another `load_on_init` subnetwork, under a `cond` layer) is `unsupported`, never ignored.
#[test]
fn load_on_init_unmodelled_places_are_unsupported() {
    let s = src();
    for net in [
        format!(
            r#"{{"a": {{"class": "subnetwork", "load_on_init": "{s}", "subnetwork": {{"b": {{"class": "subnetwork", "load_on_init": "{s}", "subnetwork": {{}}}}}}}}}}"#
        ),
        format!(
            r#"{{"c": {{"class": "cond", "true_layer": {{"class": "subnetwork", "load_on_init": "{s}", "subnetwork": {{}}}}}}}}"#
        ),
        format!(
            r#"{{"r": {{"class": "rec", "unit": {{"a": {{"class": "subnetwork", "load_on_init": "{s}", "subnetwork": {{"b": {{"class": "rec", "unit": {{"c": {{"class": "subnetwork", "load_on_init": "{s}", "subnetwork": {{}}}}}}}}}}}}}}}}}}"#
        ),
    ] {
        let e = plan(&cfg(&format!("network = {net}")), targets(&[]))
            .err()
            .unwrap_or_else(|| panic!("{net}"));
        assert_eq!(e.label(), "unsupported", "{net}: {}", e.message());
    }
}

/// docs/returnn-mapping.md R-SUB-4: RETURNN's TF scope of a layer name (`get_valid_scope_name_from_str`).
#[test]
fn r_sub_4_tf_scope_names() {
    for (name, want) in [
        ("dec", "dec"),
        ("r-1", "r__1"),
        ("a b:c", "a__b__c"),
        ("_x", ".95.x"),
        ("-x", ".95._x"),
        ("x(ä)", "x____"),
    ] {
        assert_eq!(engine::netdict::tf_scope_name(name), want, "{name}");
    }
}
