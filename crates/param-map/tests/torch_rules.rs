//! One table-driven test per rule of RETURNN's PyTorch-engine model loading (`T-...`,
//! `param_map::torch::plan_torch`) and of RF models on the TF engine (`F-...`,
//! `param_map::torch::plan_rf_tf`); rule ids as cited in the code. Expected texts are
//! RETURNN's / torch's exception texts as `cargo xtask torch-oracle` recorded them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::cell::RefCell;
use std::collections::BTreeMap;

use param_map::torch::{
    plan_rf_tf, plan_torch, torch_cast, IgnoreParams, InitForTrain, InitReason, PrefixOpt,
    RfTfConfig, RfTfEntry, StoredDict, StoredTensors, StoredValue, TorchError, TorchErrorKind,
    TorchFile, TorchLoadConfig, TorchParam, TorchPlan, TorchPreloadEntry, TorchPreloadOpts,
    TorchStatus,
};
use param_map::{Array, MapError, TensorMeta};
use tf_bundle::DType;

const F32: DType = DType::Float32;

fn p(name: &str, shape: &[u64]) -> TorchParam {
    TorchParam::new(name, F32, shape.to_vec())
}

fn t(shape: &[u64]) -> StoredValue {
    StoredValue::Tensor {
        dtype: F32,
        shape: shape.to_vec(),
    }
}

fn td(dtype: DType, shape: &[u64]) -> StoredValue {
    StoredValue::Tensor {
        dtype,
        shape: shape.to_vec(),
    }
}

fn dict(entries: &[(&str, StoredValue)]) -> StoredDict {
    StoredDict {
        entries: entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        metadata: None,
        ordered: true,
    }
}

/// A RETURNN `.pt`: `{"model": state, "epoch": e, "step": 1}`.
fn returnn_pt(state: StoredDict, epoch: i64) -> StoredDict {
    dict(&[
        ("model", StoredValue::Dict(state)),
        ("epoch", StoredValue::Int(epoch)),
        ("step", StoredValue::Int(1)),
    ])
}

/// In-memory files; records which were opened.
struct Files {
    files: BTreeMap<String, StoredDict>,
    opened: RefCell<Vec<String>>,
}

impl Files {
    fn new(files: &[(&str, StoredDict)]) -> Files {
        Files {
            files: files
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            opened: RefCell::new(Vec::new()),
        }
    }
    fn open(&self, f: &str) -> Result<TorchFile, TorchError> {
        self.opened.borrow_mut().push(f.to_string());
        match self.files.get(f) {
            Some(root) => Ok(TorchFile {
                file: f.to_string(),
                root: root.clone(),
            }),
            None => Err(TorchError::python(
                TorchErrorKind::CheckpointNotFound,
                format!("[Errno 2] No such file or directory: '{f}'"),
            )),
        }
    }
}

fn entry(filename: Option<&str>) -> TorchPreloadOpts {
    TorchPreloadOpts {
        filename: filename.map(str::to_string),
        checkpoint_key: Some("model".into()),
        ..TorchPreloadOpts::default()
    }
}

fn cfg(task: &str, main: Option<&str>, preload: Vec<(&str, TorchPreloadOpts)>) -> TorchLoadConfig {
    TorchLoadConfig {
        task: task.into(),
        epoch: main.map(|_| 3),
        main_file: main.map(str::to_string),
        start_epoch: None,
        preload: preload
            .into_iter()
            .map(|(k, o)| (k.to_string(), TorchPreloadEntry::Opts(Box::new(o))))
            .collect(),
        module_class: "Model".into(),
    }
}

fn run(params: &[TorchParam], c: &TorchLoadConfig, files: &Files) -> Result<TorchPlan, TorchError> {
    plan_torch(params, c, &mut |f| files.open(f))
}

/// name -> (status label, "file|path" of the value)
fn summary(plan: &TorchPlan) -> BTreeMap<String, (String, Option<String>)> {
    plan.params
        .iter()
        .map(|v| {
            (
                v.param.name.clone(),
                (
                    v.status.label().to_string(),
                    v.source
                        .as_ref()
                        .map(|a| format!("{}|{}", a.file, a.path.join("/"))),
                ),
            )
        })
        .collect()
}

fn src_of(plan: &TorchPlan, name: &str) -> Option<String> {
    summary(plan).get(name).and_then(|x| x.1.clone())
}

fn status_of(plan: &TorchPlan, name: &str) -> String {
    summary(plan)
        .get(name)
        .map(|x| x.0.clone())
        .unwrap_or_default()
}

fn err(r: Result<TorchPlan, TorchError>) -> TorchError {
    match r {
        Ok(p) => panic!("expected an error, got a plan: {:?}", summary(&p)),
        Err(e) => e,
    }
}

#[test]
fn t_main_1_model_key_or_the_file_itself() {
    let params = [p("a", &[2]), p("b", &[2])];
    let st = dict(&[("a", t(&[2])), ("b", t(&[2]))]);
    // (file contents, expected path of "a")
    let cases = [
        (returnn_pt(st.clone(), 3), "m.pt|model/a"),
        (st.clone(), "m.pt|a"),
    ];
    for (root, want) in cases {
        let files = Files::new(&[("m.pt", root)]);
        let plan = run(&params, &cfg("train", Some("m.pt"), vec![]), &files).unwrap();
        assert_eq!(src_of(&plan, "a").as_deref(), Some(want));
        assert_eq!(status_of(&plan, "b"), "loaded");
    }
}

#[test]
fn t_main_2_unexpected_keys_only_noted_and_listed_in_the_final_error() {
    let params = [p("a", &[2]), p("b", &[2])];
    let files = Files::new(&[(
        "m.pt",
        returnn_pt(dict(&[("a", t(&[2])), ("zz", t(&[1]))]), 3),
    )]);
    let e = err(run(&params, &cfg("eval", Some("m.pt"), vec![]), &files));
    assert_eq!(e.kind(), TorchErrorKind::MissingKeys);
    assert_eq!(
        e.message(),
        "Exception: While loading model m.pt, preload_from_files False:\nUnexpected key(s) in state_dict: 'zz'\nMissing key(s) in state_dict: 'b'\nAny missing key is an error."
    );
    let files = Files::new(&[(
        "m.pt",
        returnn_pt(dict(&[("a", t(&[2])), ("b", t(&[2])), ("zz", t(&[1]))]), 3),
    )]);
    let plan = run(&params, &cfg("eval", Some("m.pt"), vec![]), &files).unwrap();
    assert_eq!(plan.unexpected, vec!["zz".to_string()]);
}

#[test]
fn t_main_3_model_value_that_is_not_a_dict() {
    let files = Files::new(&[("m.pt", dict(&[("model", t(&[2]))]))]);
    let e = err(run(
        &[p("a", &[2])],
        &cfg("eval", Some("m.pt"), vec![]),
        &files,
    ));
    assert_eq!(e.kind(), TorchErrorKind::NotADict);
    assert_eq!(
        e.message(),
        "AttributeError: 'Tensor' object has no attribute 'keys'"
    );
}

#[test]
fn t_epoch_1_stored_epoch_when_selection_has_none() {
    // (stored epoch, init_for_train=True entry applies in training)
    for (stored, applies) in [(0, true), (4, false)] {
        let files = Files::new(&[
            ("m.pt", returnn_pt(dict(&[("a", t(&[2]))]), stored)),
            ("pre.pt", returnn_pt(dict(&[("a", t(&[2]))]), 1)),
        ]);
        let mut c = cfg(
            "train",
            Some("m.pt"),
            vec![(
                "x",
                TorchPreloadOpts {
                    init_for_train: InitForTrain::FirstEpoch,
                    ..entry(Some("pre.pt"))
                },
            )],
        );
        c.epoch = None;
        let plan = run(&[p("a", &[2])], &c, &files).unwrap();
        assert_eq!(plan.epoch, stored as u64);
        assert_eq!(plan.first_train_epoch, applies);
        let want = if applies {
            "pre.pt|model/a"
        } else {
            "m.pt|model/a"
        };
        assert_eq!(src_of(&plan, "a").as_deref(), Some(want));
    }
}

#[test]
fn t_order_1_reversed_sorted_first_key_wins_preload_over_main() {
    let params = [p("a", &[2]), p("b", &[2]), p("c", &[2])];
    let files = Files::new(&[
        (
            "m.pt",
            returnn_pt(dict(&[("a", t(&[2])), ("b", t(&[2])), ("c", t(&[2]))]), 3),
        ),
        (
            "k1.pt",
            returnn_pt(dict(&[("a", t(&[2])), ("b", t(&[2]))]), 1),
        ),
        ("k2.pt", returnn_pt(dict(&[("a", t(&[2]))]), 1)),
    ]);
    let c = cfg(
        "eval",
        Some("m.pt"),
        vec![
            ("b_second", entry(Some("k1.pt"))),
            ("a_first", entry(Some("k2.pt"))),
        ],
    );
    let plan = run(&params, &c, &files).unwrap();
    let keys: Vec<&str> = plan.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["b_second", "a_first"]);
    assert_eq!(src_of(&plan, "a").as_deref(), Some("k2.pt|model/a"));
    assert_eq!(src_of(&plan, "b").as_deref(), Some("k1.pt|model/b"));
    assert_eq!(src_of(&plan, "c").as_deref(), Some("m.pt|model/c"));
}

#[test]
fn t_ift_1_to_4_init_for_train() {
    let files = Files::new(&[("pre.pt", returnn_pt(dict(&[("a", t(&[2]))]), 1))]);
    // (init_for_train, task, applies); no main checkpoint: a fresh training is the first epoch
    let cases = [
        (InitForTrain::Recog, "train", false),
        (InitForTrain::Recog, "eval", true),
        (InitForTrain::Recog, "forward", true),
        (InitForTrain::FirstEpoch, "train", true),
        (InitForTrain::FirstEpoch, "forward", false),
        (InitForTrain::Always, "train", true),
        (InitForTrain::Always, "forward", true),
    ];
    for (ift, task, applies) in cases {
        files.opened.borrow_mut().clear();
        let c = cfg(
            task,
            None,
            vec![(
                "x",
                TorchPreloadOpts {
                    init_for_train: ift.clone(),
                    ..entry(Some("pre.pt"))
                },
            )],
        );
        let plan = run(&[p("a", &[2])], &c, &files).unwrap();
        assert_eq!(plan.entries[0].applied, applies, "{ift:?} {task}");
        // T-ENTRY-2: an entry that does not apply is never opened
        assert_eq!(files.opened.borrow().len(), usize::from(applies));
        let want = match (applies, &ift) {
            (false, _) => "random-init",
            (true, InitForTrain::Always) => "frozen",
            _ => "loaded",
        };
        assert_eq!(status_of(&plan, "a"), want, "{ift:?} {task}");
    }
    let c = cfg(
        "train",
        None,
        vec![(
            "k",
            TorchPreloadOpts {
                init_for_train: InitForTrain::Invalid {
                    repr: "'yes'".into(),
                    type_name: "str".into(),
                },
                ..entry(Some("pre.pt"))
            },
        )],
    );
    let e = err(run(&[p("a", &[2])], &c, &files));
    assert_eq!(e.kind(), TorchErrorKind::InvalidInitForTrain);
    assert_eq!(
        e.message(),
        "ValueError: preload key k: invalid init_for_train value 'yes' (type str)"
    );
}

#[test]
fn t_entry_1_invalid_entry_is_a_bare_assertion() {
    let files = Files::new(&[]);
    let mut c = cfg("train", None, vec![]);
    c.preload = vec![("x".into(), TorchPreloadEntry::Invalid)];
    let e = err(run(&[p("a", &[2])], &c, &files));
    assert_eq!(e.kind(), TorchErrorKind::PreloadEntryInvalid);
    assert_eq!(e.message(), "AssertionError");
    assert_eq!(
        TorchErrorKind::PreloadEntryInvalid.label(),
        "preload_entry_invalid"
    );
}

#[test]
fn t_none_1_2_filename_none_declares_still_missing_params_random() {
    let params = [p("lm.a", &[2]), p("lm.b", &[2]), p("enc.c", &[2])];
    let files = Files::new(&[("m.pt", returnn_pt(dict(&[("enc.c", t(&[2]))]), 3))]);
    // (entry key relative to "z_files": processed before (z...) or after (a...) it, pattern,
    //  prefix, expected: error or not)
    let cases: [(&str, Option<&str>, PrefixOpt, bool); 5] = [
        ("a", Some("lm.*"), PrefixOpt::Absent, true),
        ("a", Some("lm.?"), PrefixOpt::Absent, true),
        ("a", None, PrefixOpt::Str("lm.".into()), true),
        ("a", Some("enc*"), PrefixOpt::Absent, false),
        ("a", None, PrefixOpt::Str(String::new()), true),
    ];
    for (key, pattern, prefix, ok) in cases {
        let c = cfg(
            "eval",
            Some("m.pt"),
            vec![(
                key,
                TorchPreloadOpts {
                    pattern: pattern.map(str::to_string),
                    prefix: prefix.clone(),
                    ..entry(None)
                },
            )],
        );
        let r = run(&params, &c, &files);
        assert_eq!(r.is_ok(), ok, "{pattern:?} {prefix:?}");
        if let Ok(plan) = r {
            assert_eq!(
                plan.params[0].reason,
                Some(InitReason::Declared { entry: "a".into() })
            );
            assert_eq!(status_of(&plan, "lm.a"), "random-init");
        }
    }
    // T-NONE-2: the entry only rescues keys that are missing when it is reached: after the
    // failing entry (earlier key, processed later) it rescues, before it (later key) not.
    let files = Files::new(&[
        ("m.pt", returnn_pt(dict(&[("enc.c", t(&[2]))]), 3)),
        ("lm.pt", returnn_pt(dict(&[("lm.a", t(&[2]))]), 1)),
    ]);
    let params = [p("lm.a", &[2]), p("lm.b", &[2])];
    for (none_key, ok) in [("a_none", true), ("z_none", false)] {
        let c = cfg(
            "eval",
            None,
            vec![
                ("m_load", entry(Some("lm.pt"))),
                (
                    none_key,
                    TorchPreloadOpts {
                        pattern: Some("lm.*".into()),
                        ..entry(None)
                    },
                ),
            ],
        );
        let r = run(&params, &c, &files);
        assert_eq!(r.is_ok(), ok, "{none_key}");
    }
}

#[test]
fn t_none_3_neither_pattern_nor_prefix() {
    let c = cfg(
        "eval",
        None,
        vec![(
            "k",
            TorchPreloadOpts {
                opts_repr: "{'filename': None}".into(),
                ..entry(None)
            },
        )],
    );
    let e = err(run(&[p("a", &[2])], &c, &Files::new(&[])));
    assert_eq!(e.kind(), TorchErrorKind::NoPatternOrPrefix);
    assert_eq!(
        e.message(),
        "ValueError: preload key k without file {'filename': None}: no pattern or prefix given"
    );
}

#[test]
fn t_ckey_1_to_4_checkpoint_key() {
    let params = [p("a", &[2])];
    let flat = dict(&[("a", t(&[2]))]);
    let pt = returnn_pt(flat.clone(), 1);
    // (file, checkpoint_key, expected source or error text)
    let cases: [(StoredDict, Option<&str>, Result<&str, &str>); 6] = [
        (pt.clone(), Some("model"), Ok("f|model/a")),
        (flat.clone(), None, Ok("f|a")),
        (flat.clone(), Some("model"), Err("KeyError: 'model'")),
        (pt.clone(), Some("nope"), Err("KeyError: 'nope'")),
        (
            pt.clone(),
            Some("epoch"),
            Err("AttributeError: 'int' object has no attribute 'keys'"),
        ),
        (
            pt.clone(),
            None,
            Err("Exception: No keys with prefix '' found in preload model state.\nPreload model state keys: {'epoch', 'model', 'step'}\nModel state keys: {'a'}"),
        ),
    ];
    for (root, ck, want) in cases {
        let files = Files::new(&[("f", root)]);
        let c = cfg(
            "eval",
            None,
            vec![(
                "k",
                TorchPreloadOpts {
                    checkpoint_key: ck.map(str::to_string),
                    ..entry(Some("f"))
                },
            )],
        );
        match (run(&params, &c, &files), want) {
            (Ok(plan), Ok(w)) => assert_eq!(src_of(&plan, "a").as_deref(), Some(w)),
            (Err(e), Err(w)) => assert_eq!(e.message(), w, "{ck:?}"),
            (r, w) => panic!("{ck:?}: got {:?}, want {w:?}", r.map(|p| summary(&p))),
        }
    }
}

#[test]
fn t_prefix_1_to_4() {
    let params = [p("lm.a", &[2]), p("lm.b", &[2]), p("enc.c", &[2])];
    let files = Files::new(&[
        (
            "lm.pt",
            returnn_pt(dict(&[("a", t(&[2])), ("b", t(&[2]))]), 1),
        ),
        ("part.pt", returnn_pt(dict(&[("a", t(&[2]))]), 1)),
        ("other.pt", returnn_pt(dict(&[("zz", t(&[2]))]), 1)),
    ]);
    let with = |file: &str, prefix: &str, ignore_missing: bool| {
        cfg(
            "eval",
            None,
            vec![(
                "lm",
                TorchPreloadOpts {
                    prefix: PrefixOpt::Str(prefix.into()),
                    ignore_missing,
                    ..entry(Some(file))
                },
            )],
        )
    };
    // T-PREFIX-1/2: prefix prepended; params outside it are not required (no main ckpt,
    // T-NOMAIN-1)
    let plan = run(&params, &with("lm.pt", "lm.", false), &files).unwrap();
    assert_eq!(src_of(&plan, "lm.a").as_deref(), Some("lm.pt|model/a"));
    assert_eq!(
        plan.params[2].reason,
        Some(InitReason::NotRequested),
        "enc.c outside the prefix"
    );
    // a key under the prefix missing: error, unless ignore_missing (T-MISS-3)
    let e = err(run(&params, &with("part.pt", "lm.", false), &files));
    assert!(
        e.message()
            .ends_with("Missing key(s) in state_dict: 'lm.b'\nAny missing key is an error."),
        "{}",
        e.message()
    );
    let plan = run(&params, &with("part.pt", "lm.", true), &files).unwrap();
    assert_eq!(status_of(&plan, "lm.b"), "missing-ignored");
    // T-PREFIX-3
    let e = err(run(&params, &with("lm.pt", "dec.", false), &files));
    assert_eq!(
        e.message(),
        "Exception: No keys with prefix 'dec.' found in model.\nModel params:\nlm.a, lm.b, enc.c"
    );
    // T-PREFIX-4
    let e = err(run(&params, &with("other.pt", "lm.", false), &files));
    assert_eq!(e.kind(), TorchErrorKind::NoPrefixKeysInState);
    assert_eq!(
        e.message(),
        "Exception: No keys with prefix 'lm.' found in preload model state.\nPreload model state keys: {'lm.zz'}\nModel state keys: {'enc.c', 'lm.a', 'lm.b'}"
    );
}

#[test]
fn t_ign_1_ignore_lists_on_prefixed_names() {
    let params = [p("lm.a", &[2]), p("lm.b", &[2])];
    let files = Files::new(&[(
        "lm.pt",
        returnn_pt(dict(&[("a", t(&[2])), ("b", t(&[2]))]), 1),
    )]);
    // (ignore_params, ignore_params_prefixes, loaded names)
    let cases: [(IgnoreParams, Vec<&str>, Vec<&str>); 5] = [
        (
            IgnoreParams::List(vec!["lm.a".into()]),
            vec![],
            vec!["lm.b"],
        ),
        (
            IgnoreParams::List(vec!["a".into()]),
            vec![],
            vec!["lm.a", "lm.b"],
        ),
        (IgnoreParams::default(), vec!["lm.b"], vec!["lm.a"]),
        // a str: Python's `in` tests substrings
        (
            IgnoreParams::Substring("xlm.a".into()),
            vec![],
            vec!["lm.b"],
        ),
        // a str of prefixes is iterated by character
        (IgnoreParams::default(), vec!["l", "m"], vec![]),
    ];
    for (ip, ipp, loaded) in cases {
        let c = cfg(
            "eval",
            None,
            vec![(
                "lm",
                TorchPreloadOpts {
                    prefix: PrefixOpt::Str("lm.".into()),
                    ignore_params: ip.clone(),
                    ignore_params_prefixes: ipp.iter().map(|s| s.to_string()).collect(),
                    ignore_missing: true,
                    ..entry(Some("lm.pt"))
                },
            )],
        );
        match run(&params, &c, &files) {
            Ok(plan) => {
                let got: Vec<String> = plan.loaded().map(|a| a.param.clone()).collect();
                assert_eq!(got, loaded, "{ip:?} {ipp:?}");
            }
            Err(e) => {
                assert!(loaded.is_empty(), "{ip:?}: {e}");
                assert_eq!(e.kind(), TorchErrorKind::NoPrefixKeysInState);
            }
        }
    }
}

#[test]
fn t_vnm_1_2_var_name_mapping() {
    let params = [p("new", &[2]), p("b", &[2])];
    let files = Files::new(&[(
        "f",
        returnn_pt(dict(&[("old", t(&[2])), ("b", t(&[2]))]), 1),
    )]);
    let with = |m: Vec<(&str, &str)>| {
        cfg(
            "eval",
            None,
            vec![(
                "k",
                TorchPreloadOpts {
                    var_name_mapping: m
                        .into_iter()
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .collect(),
                    ..entry(Some("f"))
                },
            )],
        )
    };
    let plan = run(&params, &with(vec![("new", "old")]), &files).unwrap();
    assert_eq!(src_of(&plan, "new").as_deref(), Some("f|model/old"));
    // applied in order with pop / insert, even over a name that exists: here "new" is popped
    // again into "b", so "new" ends up missing
    let e = err(run(
        &params,
        &with(vec![("new", "old"), ("b", "new")]),
        &files,
    ));
    assert!(
        e.message()
            .contains("Missing key(s) in state_dict: 'new'\n"),
        "{e}"
    );
    // an absent source is a KeyError
    let e = err(run(&params, &with(vec![("new", "nothere")]), &files));
    assert_eq!(e.kind(), TorchErrorKind::VarNameMappingMissing);
    assert_eq!(e.message(), "KeyError: 'nothere'");
}

#[test]
fn t_miss_1_2_final_error_counts_only_keys_nothing_filled() {
    let params = [p("a", &[2]), p("b", &[2])];
    let files = Files::new(&[
        ("m.pt", returnn_pt(dict(&[("a", t(&[2]))]), 3)),
        ("pa.pt", returnn_pt(dict(&[("a", t(&[2]))]), 1)),
        ("pb.pt", returnn_pt(dict(&[("b", t(&[2]))]), 1)),
    ]);
    // main lacks b, an entry provides it: no error; an entry lacking a key that the main
    // checkpoint (or an earlier entry) filled does not count.
    let c = cfg(
        "eval",
        Some("m.pt"),
        vec![("x", entry(Some("pb.pt"))), ("y", entry(Some("pa.pt")))],
    );
    let plan = run(&params, &c, &files).unwrap();
    assert_eq!(src_of(&plan, "b").as_deref(), Some("pb.pt|model/b"));
    let c = cfg("eval", None, vec![("y", entry(Some("pa.pt")))]);
    let e = err(run(&params, &c, &files));
    assert_eq!(
        e.message(),
        "Exception: While loading model None, preload_from_files True:\nUnexpected key(s) in state_dict: \nMissing key(s) in state_dict: 'b'\nAny missing key is an error."
    );
}

#[test]
fn t_nc_1_non_critical_params_never_missing() {
    let mut nc = p("nc", &[2]);
    nc.non_critical = true;
    let params = [p("a", &[2]), nc];
    let files = Files::new(&[("m.pt", returnn_pt(dict(&[("a", t(&[2]))]), 3))]);
    let plan = run(&params, &cfg("eval", Some("m.pt"), vec![]), &files).unwrap();
    assert_eq!(status_of(&plan, "nc"), "missing-ignored");
    assert_eq!(plan.params[1].reason, Some(InitReason::NonCritical));
}

#[test]
fn t_shape_1_2_size_mismatch_and_the_scalar_squeeze() {
    let params = [p("a", &[2, 3]), p("s", &[]), p("b", &[2])];
    let files = Files::new(&[
        (
            "bad.pt",
            returnn_pt(dict(&[("a", t(&[3, 2])), ("s", t(&[1])), ("b", t(&[]))]), 3),
        ),
        (
            "ok.pt",
            returnn_pt(
                dict(&[("a", t(&[2, 3])), ("s", t(&[1])), ("b", t(&[2]))]),
                3,
            ),
        ),
    ]);
    let e = err(run(&params, &cfg("eval", Some("bad.pt"), vec![]), &files));
    assert_eq!(e.kind(), TorchErrorKind::SizeMismatch);
    assert_eq!(
        e.message(),
        "RuntimeError: Error(s) in loading state_dict for Model:\n\tsize mismatch for a: copying a param with shape torch.Size([3, 2]) from checkpoint, the shape in current model is torch.Size([2, 3]).\n\tsize mismatch for b: copying a param with shape torch.Size([]) from checkpoint, the shape in current model is torch.Size([2])."
    );
    let plan = run(&params, &cfg("eval", Some("ok.pt"), vec![]), &files).unwrap();
    let s = plan.params[1].source.as_ref().unwrap();
    assert_eq!(
        (s.source_shape.as_slice(), s.shape.as_slice()),
        (&[1u64][..], &[][..])
    );
}

struct OneTensor(Array);
impl StoredTensors for OneTensor {
    fn read(&self, _file: &str, _path: &[String]) -> Result<Array, MapError> {
        Ok(self.0.clone())
    }
}

#[test]
fn t_dtype_1_copy_casts() {
    // float64 -> float16 rounds twice (through float32), unlike numpy
    let x = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
    let a = Array::new(DType::Float64, vec![1], x.to_le_bytes().to_vec()).unwrap();
    let torch = torch_cast(a.clone(), DType::Float16).unwrap();
    let numpy = a.clone().cast(DType::Float16).unwrap();
    assert_eq!(torch.data, 0x3c00u16.to_le_bytes().to_vec(), "1.0");
    assert_eq!(numpy.data, 0x3c01u16.to_le_bytes().to_vec(), "1 + 2^-10");
    // bool both ways
    let f = Array::from_f32(vec![3], &[0.0, -0.5, f32::NAN]).unwrap();
    assert_eq!(torch_cast(f, DType::Bool).unwrap().data, vec![0, 1, 1]);
    let b = Array::new(DType::Bool, vec![2], vec![1, 0]).unwrap();
    assert_eq!(
        torch_cast(b, DType::Float32).unwrap().to_f64_vec().unwrap(),
        vec![1.0, 0.0]
    );
    // the plan records the cast, evaluate applies it
    let params = [p("a", &[1])];
    let files = Files::new(&[(
        "m.pt",
        returnn_pt(dict(&[("a", td(DType::Float64, &[1]))]), 3),
    )]);
    let plan = run(&params, &cfg("eval", Some("m.pt"), vec![]), &files).unwrap();
    let asg = plan.params[0].source.as_ref().unwrap();
    assert!(asg.casts());
    let v = asg.evaluate(&OneTensor(a)).unwrap();
    assert_eq!(
        (v.dtype, v.to_f64_vec().unwrap()),
        (F32, vec![x as f32 as f64])
    );
}

#[test]
fn t_bn_1_num_batches_tracked_default_without_version_metadata() {
    let params = [
        p("bn.weight", &[3]),
        TorchParam::new("bn.num_batches_tracked", DType::Int64, vec![]),
    ];
    // (metadata of the state dict, error)
    let md2: BTreeMap<String, Option<i64>> = [("bn".to_string(), Some(2))].into();
    let md1: BTreeMap<String, Option<i64>> = [("bn".to_string(), Some(1))].into();
    for (md, fails) in [(None, false), (Some(md1), false), (Some(md2), true)] {
        let mut st = dict(&[("bn.weight", t(&[3]))]);
        st.metadata = md.clone();
        let files = Files::new(&[("m.pt", returnn_pt(st, 3))]);
        let r = run(&params, &cfg("eval", Some("m.pt"), vec![]), &files);
        assert_eq!(r.is_err(), fails, "{md:?}");
        if let Ok(plan) = r {
            assert_eq!(
                plan.params[1].reason,
                Some(InitReason::BatchNormCounter {
                    entry: "load".into()
                })
            );
        }
    }
}

#[test]
fn t_always_1_to_3_frozen_params() {
    let mut buf = p("m.buf", &[2]);
    buf.buffer = true;
    let mut aux = p("m.aux", &[2]);
    aux.aux = true;
    let files = Files::new(&[
        (
            "f.pt",
            returnn_pt(
                dict(&[("a", t(&[2])), ("m.aux", t(&[2])), ("zz", t(&[2]))]),
                1,
            ),
        ),
        ("g.pt", returnn_pt(dict(&[("a", t(&[2]))]), 1)),
        ("b.pt", returnn_pt(dict(&[("m.buf", t(&[2]))]), 1)),
    ]);
    let always = |f: &str| TorchPreloadOpts {
        init_for_train: InitForTrain::Always,
        ignore_missing: true,
        ..entry(Some(f))
    };
    // T-ALWAYS-1/2: frozen = the entry's keys the model has (aux params are Parameters), even
    // when an entry processed later overwrites the value
    let params = [p("a", &[2]), aux.clone()];
    let c = cfg(
        "train",
        None,
        vec![("z", always("f.pt")), ("a", entry(Some("g.pt")))],
    );
    let c = TorchLoadConfig {
        preload: vec![
            c.preload[0].clone(),
            (
                "a".into(),
                TorchPreloadEntry::Opts(Box::new(TorchPreloadOpts {
                    init_for_train: InitForTrain::Always,
                    ..entry(Some("g.pt"))
                })),
            ),
        ],
        ..c
    };
    let plan = run(&params, &c, &files).unwrap();
    assert_eq!(status_of(&plan, "a"), "frozen");
    assert_eq!(src_of(&plan, "a").as_deref(), Some("g.pt|model/a"));
    assert_eq!(status_of(&plan, "m.aux"), "frozen");
    // T-ALWAYS-3: a plain buffer cannot be frozen
    let params = [p("a", &[2]), buf];
    let c = cfg("train", None, vec![("z", always("b.pt"))]);
    let e = err(run(&params, &c, &files));
    assert_eq!(e.kind(), TorchErrorKind::NotAParameter);
    assert_eq!(
        e.message(),
        "ValueError: buf is not a torch.nn.Parameter, got type Tensor"
    );
}

#[test]
fn t_tied_1_tied_params_share_the_last_copy() {
    let mut b = p("b", &[2]);
    b.tied_to = Some("a".into());
    let params = [p("a", &[2]), b];
    let files = Files::new(&[
        (
            "m.pt",
            returnn_pt(dict(&[("a", t(&[2])), ("b", t(&[2]))]), 3),
        ),
        ("pa.pt", returnn_pt(dict(&[("a", t(&[2]))]), 1)),
    ]);
    // within one load the later key (state-dict order) wins for both names
    let plan = run(&params, &cfg("eval", Some("m.pt"), vec![]), &files).unwrap();
    assert_eq!(src_of(&plan, "a").as_deref(), Some("m.pt|model/b"));
    // a later load into one name sets both
    let c = cfg("eval", Some("m.pt"), vec![("x", entry(Some("pa.pt")))]);
    let plan = run(&params, &c, &files).unwrap();
    assert_eq!(src_of(&plan, "b").as_deref(), Some("pa.pt|model/a"));
}

#[test]
fn t_custom_1_callable_reported_only_when_it_would_run() {
    let params = [p("a", &[2]), p("b", &[2])];
    let files = Files::new(&[
        (
            "full.pt",
            returnn_pt(dict(&[("a", t(&[2])), ("b", t(&[2]))]), 1),
        ),
        ("part.pt", returnn_pt(dict(&[("a", t(&[2]))]), 1)),
    ]);
    for (f, unsupported) in [("full.pt", false), ("part.pt", true)] {
        let c = cfg(
            "eval",
            None,
            vec![(
                "k",
                TorchPreloadOpts {
                    custom_missing_load_func: true,
                    ignore_missing: true,
                    ..entry(Some(f))
                },
            )],
        );
        let r = run(&params, &c, &files);
        assert_eq!(
            r.as_ref().err().map(|e| e.kind()),
            unsupported.then_some(TorchErrorKind::Unsupported),
            "{f}"
        );
    }
}

#[test]
fn t_open_1_file_errors_surface_where_the_engine_opens() {
    let c = cfg("eval", None, vec![("k", entry(Some("missing.pt")))]);
    let e = err(run(&[p("a", &[2])], &c, &Files::new(&[])));
    assert_eq!(e.kind(), TorchErrorKind::CheckpointNotFound);
    assert_eq!(e.entry(), Some("k"));
    assert_eq!(
        e.message(),
        "FileNotFoundError: [Errno 2] No such file or directory: 'missing.pt'"
    );
}

// ---- RF models on the TF engine ----

fn meta(name: &str, dtype: DType, shape: &[u64]) -> TensorMeta {
    TensorMeta {
        name: name.into(),
        dtype,
        shape: shape.to_vec(),
    }
}

fn rf_entry(keys: &[&str], file: Option<&str>, prefix: PrefixOpt, im: bool) -> RfTfEntry {
    RfTfEntry::Opts {
        keys: keys.iter().map(|s| s.to_string()).collect(),
        filename: file.map(str::to_string),
        prefix,
        ignore_missing: im,
    }
}

fn rf_run(
    params: &[TorchParam],
    c: &RfTfConfig,
    files: &BTreeMap<&str, Vec<TensorMeta>>,
) -> Result<TorchPlan, TorchError> {
    plan_rf_tf(params, c, &mut |f| {
        files
            .get(f)
            .cloned()
            .ok_or_else(|| TorchError::python(TorchErrorKind::CheckpointNotFound, "not found"))
    })
}

fn rf_cfg(task: &str, main: Option<&str>, preload: Vec<(&str, RfTfEntry)>) -> RfTfConfig {
    RfTfConfig {
        task: task.into(),
        main: main.map(str::to_string),
        preload: preload
            .into_iter()
            .map(|(k, e)| (k.to_string(), e))
            .collect(),
    }
}

#[test]
fn f_saver_1_order_1_preloads_apply_in_training_last_key_wins() {
    let params = [p("enc.w", &[2]), p("lm.w", &[2])];
    let files: BTreeMap<&str, Vec<TensorMeta>> = [
        ("main", vec![meta("enc.w", F32, &[2])]),
        ("lm1", vec![meta("w", F32, &[2])]),
        ("lm2", vec![meta("w", DType::Float64, &[2])]),
    ]
    .into();
    let c = rf_cfg(
        "train",
        Some("main"),
        vec![
            (
                "b",
                rf_entry(
                    &["filename", "prefix"],
                    Some("lm2"),
                    PrefixOpt::Str("lm.".into()),
                    false,
                ),
            ),
            (
                "a",
                rf_entry(
                    &["filename", "prefix"],
                    Some("lm1"),
                    PrefixOpt::Str("lm.".into()),
                    false,
                ),
            ),
        ],
    );
    let plan = rf_run(&params, &c, &files).unwrap();
    // lm.* is not in the main Saver (F-SAVER-1) and comes from the preload, in training too;
    // sorted order with overwrite: "b" (processed last) wins (F-ORDER-1)
    assert_eq!(src_of(&plan, "enc.w").as_deref(), Some("main|enc.w"));
    assert_eq!(src_of(&plan, "lm.w").as_deref(), Some("lm2|w"));
    assert_eq!(
        plan.params[1].source.as_ref().unwrap().cast,
        param_map::torch::CastMode::NumpyFeed
    );
}

#[test]
fn f_saver_2_empty_saver() {
    let mut nc = p("a", &[2]);
    nc.non_critical = true;
    let c = rf_cfg("train", None, vec![]);
    let e = rf_run(&[nc], &c, &BTreeMap::new()).unwrap_err();
    assert_eq!(e.kind(), TorchErrorKind::NoVariablesToSave);
    assert_eq!(e.message(), "ValueError: No variables to save");
}

#[test]
fn f_main_1_to_5_restore() {
    let mut nc = p("nc", &[2]);
    nc.non_critical = true;
    let params = [p("zb", &[2]), p("ya", &[2]), p("xc", &[2]), nc];
    let first_nf = "NotFoundError: Restoring from checkpoint failed. This is most likely due to a Variable name or other graph key that is missing from the checkpoint. Please ensure that you have not altered the graph expected based on the checkpoint. Original error:\n\n";
    let first_ia = "InvalidArgumentError: Restoring from checkpoint failed. This is most likely due to a mismatch between the current graph and the graph from the checkpoint. Please ensure that you have not altered the graph expected based on the checkpoint. Original error:\n\n";
    let f64 = DType::Float64;
    // (checkpoint, expected error text or None)
    let cases: Vec<(Vec<TensorMeta>, Option<String>)> = vec![
        // F-MAIN-2: the first missing name in sorted order
        (
            vec![meta("zb", F32, &[2])],
            Some(format!("{first_nf}Key xc not found in checkpoint")),
        ),
        // F-MAIN-3: every dtype mismatch, in the model's order
        (
            vec![meta("zb", f64, &[2]), meta("ya", F32, &[2]), meta("xc", f64, &[2])],
            Some(format!("{first_ia}tensor_name = zb; expected dtype float does not equal original dtype double\ntensor_name = xc; expected dtype float does not equal original dtype double")),
        ),
        // F-MAIN-1: a missing non-critical param is fine
        (
            vec![meta("zb", F32, &[2]), meta("ya", F32, &[2]), meta("xc", F32, &[2])],
            None,
        ),
        // F-MAIN-5: a shape that differs is taken silently
        (
            vec![meta("zb", F32, &[3]), meta("ya", F32, &[2]), meta("xc", F32, &[2])],
            None,
        ),
    ];
    for (ck, want) in cases {
        let files: BTreeMap<&str, Vec<TensorMeta>> = [("m", ck)].into();
        let r = rf_run(&params, &rf_cfg("eval", Some("m"), vec![]), &files);
        match (r, want) {
            (Err(e), Some(w)) => assert_eq!(e.message(), w),
            (Ok(plan), None) => {
                assert_eq!(status_of(&plan, "nc"), "missing-ignored");
                let zb = plan.params[0].source.as_ref().unwrap();
                assert_eq!(zb.shape, zb.source_shape);
            }
            (r, w) => panic!("got {:?}, want {w:?}", r.map(|p| summary(&p))),
        }
    }
    // F-MAIN-4: forward needs a checkpoint
    let e = rf_run(&params, &rf_cfg("forward", None, vec![]), &BTreeMap::new()).unwrap_err();
    assert_eq!(
        e.message(),
        "AssertionError: forward task: no checkpoint to load (set `load` or `model` in the config)"
    );
}

#[test]
fn f_opt_prefix_miss_shape_preload_errors() {
    let params = [p("lm.w", &[2]), p("lm.v", &[2]), p("enc.w", &[2])];
    let files: BTreeMap<&str, Vec<TensorMeta>> = [
        ("m", vec![meta("enc.w", F32, &[2]), meta("lm.w", F32, &[3])]),
        ("lm", vec![meta("w", F32, &[2])]),
        ("bad", vec![meta("w", F32, &[4]), meta("v", F32, &[2])]),
    ]
    .into();
    let lm = |keys: &[&str], file: Option<&str>, prefix: PrefixOpt, im: bool| {
        rf_cfg(
            "train",
            None,
            vec![("lm", rf_entry(keys, file, prefix, im))],
        )
    };
    let s = |x: &str| PrefixOpt::Str(x.into());
    let cases: Vec<(RfTfConfig, &str)> = vec![
        // F-OPT-1
        (
            lm(&["filename", "init_for_train", "checkpoint_key"], Some("lm"), s("lm."), false),
            "AssertionError: preload_from_files['lm']: options ['checkpoint_key', 'init_for_train'] not implemented on the TF engine (supported: ['filename', 'ignore_missing', 'prefix'])",
        ),
        // F-OPT-2
        (lm(&["prefix"], None, s("lm."), false), "KeyError: 'filename'"),
        // F-PREFIX-2
        (
            lm(&["filename", "prefix"], Some("lm"), s("dec."), false),
            "AssertionError: preload_from_files['lm']: no model params with prefix 'dec.'",
        ),
        // F-MISS-1
        (
            lm(&["filename", "prefix"], Some("lm"), s("lm."), false),
            "KeyError: \"preload_from_files['lm']: 'v' (for model param 'lm.v') not in lm (set ignore_missing to skip)\"",
        ),
        // F-SHAPE-1
        (
            lm(&["filename", "prefix"], Some("bad"), s("lm."), false),
            "ValueError: checkpoint lm.w has shape (4,), model expects (2,)",
        ),
        // prefix None
        (
            lm(&["filename", "prefix"], Some("lm"), PrefixOpt::None, false),
            "TypeError: startswith first arg must be str or a tuple of str, not NoneType",
        ),
    ];
    for (c, want) in cases {
        let e = rf_run(&params, &c, &files).unwrap_err();
        assert_eq!(e.message(), want);
    }
    // F-OPT-3: a non-dict entry fails in _create_model already
    let c = rf_cfg(
        "train",
        None,
        vec![(
            "x",
            RfTfEntry::NotADict {
                type_name: "list".into(),
            },
        )],
    );
    assert_eq!(
        rf_run(&params, &c, &files).unwrap_err().message(),
        "AttributeError: 'list' object has no attribute 'get'"
    );
    // ignore_missing skips; the rest loads
    let plan = rf_run(
        &params,
        &lm(
            &["filename", "prefix", "ignore_missing"],
            Some("lm"),
            s("lm."),
            true,
        ),
        &files,
    )
    .unwrap();
    assert_eq!(status_of(&plan, "lm.v"), "missing-ignored");
    assert_eq!(src_of(&plan, "lm.w").as_deref(), Some("lm|w"));
    // F-SHAPE-2: the main restore gives lm.w the checkpoint's shape [3] (F-MAIN-5); a
    // preload of the model's shape then fails at the assign
    let c = RfTfConfig {
        main: Some("m".into()),
        preload: vec![(
            "z".into(),
            rf_entry(&["filename"], Some("lm2"), PrefixOpt::Absent, true),
        )],
        ..rf_cfg("train", None, vec![])
    };
    let files2: BTreeMap<&str, Vec<TensorMeta>> = [
        ("m", vec![meta("enc.w", F32, &[2]), meta("lm.w", F32, &[3])]),
        ("lm2", vec![meta("lm.w", F32, &[2])]),
    ]
    .into();
    let e = rf_run(&[p("lm.w", &[2]), p("enc.w", &[2])], &c, &files2).unwrap_err();
    assert_eq!(e.kind(), TorchErrorKind::ShapeMismatch);
    assert_eq!(
        e.message(),
        "InvalidArgumentError: Graph execution error:\n\nTrying to assign to variable with tensor with wrong shape. Expected [3] got [2]"
    );
}

#[test]
fn error_kinds_have_stable_snake_case_labels() {
    let kinds = [
        TorchErrorKind::MissingKeys,
        TorchErrorKind::SizeMismatch,
        TorchErrorKind::NoPrefixKeysInModel,
        TorchErrorKind::NoPrefixKeysInState,
        TorchErrorKind::CheckpointKeyMissing,
        TorchErrorKind::NotADict,
        TorchErrorKind::VarNameMappingMissing,
        TorchErrorKind::InvalidInitForTrain,
        TorchErrorKind::NoPatternOrPrefix,
        TorchErrorKind::PreloadEntryInvalid,
        TorchErrorKind::NotAParameter,
        TorchErrorKind::CheckpointNotFound,
        TorchErrorKind::Read,
        TorchErrorKind::Unsupported,
        TorchErrorKind::PreloadOptionNotImplemented,
        TorchErrorKind::NoParamsWithPrefix,
        TorchErrorKind::KeyNotInCheckpoint,
        TorchErrorKind::ShapeMismatch,
        TorchErrorKind::DtypeMismatch,
        TorchErrorKind::MissingVars,
        TorchErrorKind::NoCheckpoint,
        TorchErrorKind::NoVariablesToSave,
        TorchErrorKind::ConfigValue,
    ];
    let labels: std::collections::BTreeSet<&str> = kinds.iter().map(|k| k.label()).collect();
    assert_eq!(labels.len(), kinds.len(), "labels are distinct");
    for l in labels {
        assert!(l.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{l}");
    }
    assert_eq!(TorchStatus::Frozen.label(), "frozen");
}
