//! One table-driven test per rule of docs/returnn-mapping.md (its rule ids, listed in §16), with
//! the worked numbers of its §13 where it gives them. The bare § and rule-id citations below
//! refer to docs/returnn-mapping.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::BTreeMap;

use param_map::loader::ckpt_side_name;
use param_map::{
    Array, LoaderOptions, MapErrorKind, MemSource, Planner, Status, TargetVar, TensorSource,
};
use tf_bundle::DType;

/// `X[r, c] = base + (r*cols + c)` as float32.
fn ident(shape: &[u64], base: f32) -> Array {
    let n: u64 = shape.iter().product();
    let vals: Vec<f32> = (0..n).map(|i| base + i as f32).collect();
    Array::from_f32(shape.to_vec(), &vals).unwrap()
}

fn var(name: &str, shape: &[u64]) -> TargetVar {
    TargetVar::new(name, DType::Float32, shape.to_vec())
}

fn src(tensors: &[(&str, &[u64], f32)]) -> MemSource {
    let mut s = MemSource::new("src.ckpt");
    for (n, sh, base) in tensors {
        s.insert(*n, ident(sh, *base));
    }
    s
}

fn opts() -> LoaderOptions {
    LoaderOptions {
        filename: "src.ckpt".into(),
        ..LoaderOptions::default()
    }
}

/// Runs one preload entry and returns the plan.
fn preload(vars: Vec<TargetVar>, o: &LoaderOptions, s: &MemSource) -> param_map::Plan {
    let mut p = Planner::new(vars);
    p.preload("e", o, Ok(s as &dyn TensorSource)).unwrap();
    p.finish()
}

fn preload_err(vars: Vec<TargetVar>, o: &LoaderOptions, s: &MemSource) -> param_map::MapError {
    let mut p = Planner::new(vars);
    p.preload("e", o, Ok(s as &dyn TensorSource)).unwrap_err()
}

fn value(plan: &param_map::Plan, name: &str, s: &MemSource) -> Vec<f64> {
    let v = plan.variables.iter().find(|v| v.var.name == name).unwrap();
    v.assignment
        .as_ref()
        .unwrap_or_else(|| panic!("{name} not loaded"))
        .evaluate(s)
        .unwrap()
        .to_f64_vec()
        .unwrap()
}

fn status(plan: &param_map::Plan, name: &str) -> (Status, Option<Vec<String>>, Option<String>) {
    let v = plan.variables.iter().find(|v| v.var.name == name).unwrap();
    (
        v.status,
        v.assignment.as_ref().map(|a| a.keys.clone()),
        v.assignment.as_ref().map(|a| a.rule.label()),
    )
}

fn row(base: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| base + i as f64).collect()
}

#[test]
fn r_name_ckpt_side_names() {
    // (params_prefix, load_if_prefix, graph name, expected ckpt-side name or None)
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        ("", "", "l1/W", Some("l1/W")),
        ("", "main_", "main_l1/W", Some("l1/W")),
        ("", "main_", "main_enc/main_W", Some("enc/W")),
        ("", "main_", "x_main_y/b", Some("x_y/b")),
        ("", "main_", "plain/W", None),
        ("sub", "", "sub/l1/W", Some("/l1/W")),
        ("sub/", "", "sub/new/W", Some("new/W")),
    ];
    for (pp, lp, name, want) in cases {
        let o = LoaderOptions {
            params_prefix: pp.to_string(),
            load_if_prefix: lp.to_string(),
            ..opts()
        };
        let got = ckpt_side_name(&o, &var(name, &[1])).unwrap();
        assert_eq!(got.as_deref(), *want, "{pp:?} {lp:?} {name}");
    }
    // R-NAME-4: a name without params_prefix is an assertion.
    let o = LoaderOptions {
        params_prefix: "sub/".into(),
        ..opts()
    };
    let e = ckpt_side_name(&o, &var("other/W", &[1])).unwrap_err();
    assert_eq!(e.kind(), &MapErrorKind::ParamsPrefixMismatch);
    assert!(e
        .message()
        .starts_with("did not expect <tf.Variable 'other/W:0' shape=(1,) dtype=float32>"));
}

#[test]
fn r_name_5_6_prefix_load_and_extra_keys() {
    // load_if_prefix: plain/W is not handled even though the checkpoint has it (R-NAME-5),
    // extra checkpoint keys never matter (R-EXTRA-1).
    let s = src(&[
        ("l1/W", &[2, 2], 10.0),
        ("plain/W", &[2], 20.0),
        ("extra/x", &[3], 0.0),
    ]);
    let o = LoaderOptions {
        load_if_prefix: "main_".into(),
        ..opts()
    };
    let plan = preload(
        vec![var("main_l1/W", &[2, 2]), var("plain/W", &[2])],
        &o,
        &s,
    );
    assert_eq!(
        status(&plan, "main_l1/W"),
        (
            Status::Loaded,
            Some(vec!["l1/W".into()]),
            Some("prefix".into())
        )
    );
    assert_eq!(status(&plan, "plain/W").0, Status::RandomInit);
    assert_eq!(value(&plan, "main_l1/W", &s), row(10.0, 4));
}

#[test]
fn r_ctor_1_no_saveable_vars() {
    let s = src(&[("l1/W", &[2], 0.0)]);
    let o = LoaderOptions {
        load_if_prefix: "nomatch_".into(),
        ..opts()
    };
    let e = preload_err(vec![var("l1/W", &[2])], &o, &s);
    assert_eq!(e.kind(), &MapErrorKind::NoSaveableVars);
    assert_eq!(
        e.message(),
        "CustomCheckpointLoader(filename='<unset>', params_prefix='', load_if_prefix='nomatch_', ignore_missing=False, network=None): no saveable vars"
    );
}

#[test]
fn r_ctor_2_3_ignore_lists_use_ckpt_side_names() {
    let s = src(&[
        ("l1/W", &[2], 1.0),
        ("l10/W", &[2], 2.0),
        ("l2/W", &[2], 3.0),
    ]);
    // (ignore_params, ignore_params_prefixes, load_if_prefix, vars, expected loaded)
    type Case<'a> = (
        &'a [&'a str],
        &'a [&'a str],
        &'a str,
        &'a [&'a str],
        &'a [&'a str],
    );
    let cases: &[Case] = &[
        (&["l1/W"], &[], "", &["l1/W", "l2/W"], &["l2/W"]),
        (
            &["main_l1/W"],
            &[],
            "main_",
            &["main_l1/W", "main_l2/W"],
            &["main_l1/W", "main_l2/W"],
        ),
        (
            &["l1/W"],
            &[],
            "main_",
            &["main_l1/W", "main_l2/W"],
            &["main_l2/W"],
        ),
        (&["l1/W:0"], &[], "", &["l1/W", "l2/W"], &["l1/W", "l2/W"]),
        (&[], &["l1"], "", &["l1/W", "l10/W", "l2/W"], &["l2/W"]),
        (
            &[],
            &["l1/"],
            "",
            &["l1/W", "l10/W", "l2/W"],
            &["l10/W", "l2/W"],
        ),
    ];
    for (ip, ipp, lp, vars, want) in cases {
        let o = LoaderOptions {
            ignore_params: ip.iter().map(|s| s.to_string()).collect(),
            ignore_params_prefixes: ipp.iter().map(|s| s.to_string()).collect(),
            load_if_prefix: lp.to_string(),
            ..opts()
        };
        let plan = preload(vars.iter().map(|n| var(n, &[2])).collect(), &o, &s);
        let loaded: Vec<&str> = plan.loaded().map(|a| a.var.as_str()).collect();
        assert_eq!(&loaded, want, "{ip:?} {ipp:?} {lp:?}");
    }
    // Everything ignored -> no saveable vars; "" drops everything.
    let o = LoaderOptions {
        ignore_params_prefixes: vec!["".into()],
        ..opts()
    };
    let e = preload_err(vec![var("l1/W", &[2])], &o, &s);
    assert_eq!(e.kind(), &MapErrorKind::NoSaveableVars);
}

#[test]
fn r_ctor_4_and_r_prec_1_first_registrant_wins() {
    let s_a = src(&[("l1/W", &[2], 100.0)]);
    let s_b = src(&[("l1/W", &[2], 200.0), ("output/W", &[2], 300.0)]);
    let mut p = Planner::new(vec![var("l1/W", &[2]), var("output/W", &[2])]);
    let only_l1 = LoaderOptions {
        ignore_params: vec!["output/W".into()],
        ..opts()
    };
    p.preload("a_first", &only_l1, Ok(&s_a)).unwrap();
    p.preload("b_second", &opts(), Ok(&s_b)).unwrap();
    // R-CTOR-4: everything pre-initialised -> counted, no error, no-op.
    p.preload("c_third", &opts(), Ok(&s_b)).unwrap();
    let plan = p.finish();
    let l1 = &plan.variables[0];
    assert_eq!(l1.entry.as_deref(), Some("a_first"));
    assert_eq!(value(&plan, "l1/W", &s_a), vec![100.0, 101.0]);
    assert_eq!(plan.variables[1].entry.as_deref(), Some("b_second"));
    assert!(plan
        .notes
        .iter()
        .any(|n| n.contains("[c_third] Not loading pre-initialized variable l1/W")));
}

#[test]
fn r_prec_2_3_4_ignore_missing_leaves_vars_free_and_main_load_never_overwrites() {
    let part = src(&[("l1/W", &[2], 1.0)]);
    let full = src(&[
        ("l1/W", &[2], 50.0),
        ("l2/W", &[2], 60.0),
        ("global_step", &[], 7.0),
    ]);
    let mut vars = vec![var("l1/W", &[2]), var("l2/W", &[2])];
    vars.push(TargetVar::new("global_step", DType::Int64, vec![]));
    // R-PREC-2: with ignore_missing, l2 stays free for the main load (R-PREC-4).
    let mut p = Planner::new(vars.clone());
    let im = LoaderOptions {
        ignore_missing: true,
        ..opts()
    };
    p.preload("a", &im, Ok(&part)).unwrap();
    p.main_load(&opts(), Ok(&full)).unwrap();
    let plan = p.finish();
    assert_eq!(plan.variables[0].entry.as_deref(), Some("a"));
    assert_eq!(value(&plan, "l1/W", &part), vec![1.0, 2.0]);
    assert_eq!(plan.variables[1].entry.as_deref(), Some("load"));
    // global_step: main load only, cast float32 ckpt -> int64 var as numpy would.
    assert_eq!(plan.variables[2].entry.as_deref(), Some("load"));
    assert_eq!(value(&plan, "global_step", &full), vec![7.0]);
    // R-PREC-3: without ignore_missing the entry aborts.
    let mut p = Planner::new(vars);
    let e = p.preload("a", &opts(), Ok(&part)).unwrap_err();
    assert_eq!(e.kind(), &MapErrorKind::MissingVars);
    assert_eq!(
        e.message(),
        "CustomCheckpointLoader. could_not_find_map_list: ['l2/W']"
    );
}

#[test]
fn r_miss_1_2_4_missing_vars() {
    let s = src(&[("l1/W", &[2], 1.0)]);
    // R-MISS-1
    let e = preload_err(vec![var("l1/W", &[2]), var("output/b", &[2])], &opts(), &s);
    assert_eq!(e.kind(), &MapErrorKind::MissingVars);
    assert_eq!(
        e.message(),
        "CustomCheckpointLoader. could_not_find_map_list: ['output/b']"
    );
    // R-MISS-2
    let im = LoaderOptions {
        ignore_missing: true,
        ..opts()
    };
    let plan = preload(vec![var("l1/W", &[2]), var("output/b", &[2])], &im, &s);
    assert_eq!(status(&plan, "output/b").0, Status::MissingIgnored);
    assert_eq!(status(&plan, "l1/W").0, Status::Loaded);
    // R-MISS-4: nothing found at all.
    let e = preload_err(vec![var("x/W", &[2, 2])], &im, &s);
    assert_eq!(e.kind(), &MapErrorKind::NoVarsToLoad);
    assert_eq!(
        e.message(),
        "no vars to load; saveable vars are [<tf.Variable 'x/W:0' shape=(2, 2) dtype=float32>]. load_if_prefix ''."
    );
}

#[test]
fn r_nc_non_critical_vars() {
    let s = src(&[("l1/W", &[2], 1.0)]);
    let mut nc = var("l1/extra", &[2]);
    nc.non_critical = true;
    // R-NC-1: fast path skips silently (main load: no registration).
    let mut p = Planner::new(vec![var("l1/W", &[2]), nc.clone()]);
    p.main_load(&opts(), Ok(&s)).unwrap();
    let plan = p.finish();
    assert_eq!(plan.variables[1].status, Status::MissingIgnored);
    // R-NC-2: slow path (something else missing) without ignore_missing -> KeyError.
    let o = LoaderOptions {
        var_name_mapping: BTreeMap::from([("other/W".to_string(), "l1/W".to_string())]),
        ..opts()
    };
    let mut p = Planner::new(vec![var("other/W", &[2]), nc.clone()]);
    let e = p.main_load(&o, Ok(&s)).unwrap_err();
    assert_eq!(e.kind(), &MapErrorKind::NonCriticalMissing);
    assert!(e.message().starts_with("KeyError('l1/extra')"));
    // R-NC-3: with ignore_missing it is skipped.
    let o = LoaderOptions {
        ignore_missing: true,
        ..o
    };
    let mut p = Planner::new(vec![var("other/W", &[2]), nc]);
    p.main_load(&o, Ok(&s)).unwrap();
    let plan = p.finish();
    assert_eq!(plan.variables[0].status, Status::Loaded);
    assert_eq!(plan.variables[1].status, Status::MissingIgnored);
}

#[test]
fn r_map_var_name_mapping() {
    let s = src(&[
        ("a/W", &[2], 10.0),
        ("b/W", &[2], 20.0),
        ("L/rec/W", &[2, 12], 100.0),
        ("L/rec/W_re", &[3, 12], 200.0),
    ]);
    // R-MAP-1: present name wins (fast path), mapping not consulted.
    let o = LoaderOptions {
        var_name_mapping: BTreeMap::from([("a/W".to_string(), "b/W".to_string())]),
        ..opts()
    };
    let plan = preload(vec![var("a/W", &[2])], &o, &s);
    assert_eq!(value(&plan, "a/W", &s), vec![10.0, 11.0]);
    // Missing name -> mapping used.
    let plan = preload(
        vec![var("new/W", &[2])],
        &LoaderOptions {
            var_name_mapping: BTreeMap::from([("new/W".to_string(), "b/W".to_string())]),
            ..opts()
        },
        &s,
    );
    assert_eq!(
        status(&plan, "new/W"),
        (
            Status::Loaded,
            Some(vec!["b/W".into()]),
            Some("var_name_mapping".into())
        )
    );
    // R-MAP-2: mapping overwrites a heuristic for the same name.
    let plan = preload(
        vec![var("L/rec/lstm_cell/kernel", &[2])],
        &LoaderOptions {
            var_name_mapping: BTreeMap::from([(
                "L/rec/lstm_cell/kernel".to_string(),
                "a/W".to_string(),
            )]),
            ..opts()
        },
        &s,
    );
    assert_eq!(
        status(&plan, "L/rec/lstm_cell/kernel").2.as_deref(),
        Some("var_name_mapping")
    );
    // R-MAP-4: mapping to an absent key fails, even with ignore_missing.
    for ignore_missing in [false, true] {
        let o = LoaderOptions {
            ignore_missing,
            var_name_mapping: BTreeMap::from([("new/W".to_string(), "nope/W".to_string())]),
            ..opts()
        };
        let e = preload_err(vec![var("new/W", &[2])], &o, &s);
        assert_eq!(e.kind(), &MapErrorKind::KeyNotFound);
        assert_eq!(e.message(), "Key nope/W not found in checkpoint");
    }
    // Keys are ckpt-side names: with params_prefix "sub/" the key is "new/W".
    let o = LoaderOptions {
        params_prefix: "sub/".into(),
        var_name_mapping: BTreeMap::from([("new/W".to_string(), "a/W".to_string())]),
        ..opts()
    };
    let plan = preload(vec![var("sub/new/W", &[2])], &o, &s);
    assert_eq!(value(&plan, "sub/new/W", &s), vec![10.0, 11.0]);
}

/// §13.1 NativeLSTM -> LSTMCell, prefix L.
#[test]
fn r_lstm_n2b_worked_example() {
    let s = src(&[
        ("L/rec/W", &[2, 12], 100.0),
        ("L/rec/W_re", &[3, 12], 200.0),
        ("L/rec/b", &[12], 300.0),
    ]);
    let plan = preload(
        vec![
            var("L/rec/rnn/lstm_cell/kernel", &[5, 12]),
            var("L/rec/rnn/lstm_cell/bias", &[12]),
        ],
        &opts(),
        &s,
    );
    let blocks = |base: f64| -> Vec<f64> {
        [3.0, 4.0, 5.0, 0.0, 1.0, 2.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
            .iter()
            .map(|x| base + x)
            .collect()
    };
    let mut want = Vec::new();
    for base in [100.0, 112.0, 200.0, 212.0, 224.0] {
        want.extend(blocks(base));
    }
    assert_eq!(value(&plan, "L/rec/rnn/lstm_cell/kernel", &s), want);
    assert_eq!(value(&plan, "L/rec/rnn/lstm_cell/bias", &s), blocks(300.0));
    let (st, keys, rule) = status(&plan, "L/rec/rnn/lstm_cell/kernel");
    assert_eq!(st, Status::Loaded);
    assert_eq!(keys.unwrap(), vec!["L/rec/W", "L/rec/W_re"]);
    assert_eq!(rule.unwrap(), "convert:native_lstm_to_basic_kernel");
    assert_eq!(
        status(&plan, "L/rec/rnn/lstm_cell/bias").2.unwrap(),
        "convert:native_lstm_to_basic_bias"
    );
    // R-LSTM-FB-1: the plan notes the forget_bias.
    assert!(plan.notes.iter().any(|n| n.contains("forget_bias")));
}

#[test]
fn r_lstm_n2b_postfixes() {
    // (checkpoint keys, target var, expected kernel keys or None)
    type Case<'a> = (&'a [&'a str], &'a str, Option<[&'a str; 2]>);
    let cases: &[Case] = &[
        // R-LSTM-N2B-4: both P/rec/W* and P/rec/rnn/W* -> the former wins.
        (
            &["P/rec/W", "P/rec/W_re", "P/rec/rnn/W", "P/rec/rnn/W_re"],
            "P/rec/rnn/lstm_cell/kernel",
            Some(["P/rec/W", "P/rec/W_re"]),
        ),
        (
            &["P/rec/rnn/W", "P/rec/rnn/W_re"],
            "P/rec/rnn/lstm_cell/kernel",
            Some(["P/rec/rnn/W", "P/rec/rnn/W_re"]),
        ),
        (
            &["P/rec/W", "P/rec/W_re"],
            "P/rec/basic_lstm_cell/kernel",
            Some(["P/rec/W", "P/rec/W_re"]),
        ),
        (
            &["P/rec/W", "P/rec/W_re"],
            "P/rec/lstm_cell/kernel",
            Some(["P/rec/W", "P/rec/W_re"]),
        ),
        // R-LSTM-N2B-5: only one of W, W_re -> no mapping.
        (&["P/rec/W"], "P/rec/lstm_cell/kernel", None),
    ];
    for (keys, target, want) in cases {
        let mut s = MemSource::new("src");
        for k in *keys {
            let shape: &[u64] = if k.ends_with("W_re") {
                &[3, 12]
            } else {
                &[2, 12]
            };
            s.insert(*k, ident(shape, 0.0));
        }
        let o = LoaderOptions {
            ignore_missing: true,
            ..opts()
        };
        s.insert("anchor", ident(&[2], 0.0));
        let mut p = Planner::new(vec![var(target, &[5, 12]), var("anchor", &[2])]);
        let r = p.preload("e", &o, Ok(&s));
        match want {
            Some(k) => {
                r.unwrap();
                let plan = p.finish();
                assert_eq!(status(&plan, target).1.unwrap(), k.to_vec(), "{keys:?}");
            }
            None => {
                r.unwrap();
                let plan = p.finish();
                assert_eq!(status(&plan, target).0, Status::MissingIgnored);
            }
        }
    }
    // Bias: no early stop, the last matching postfix wins (P/rec/rnn/b over P/rec/b).
    let s = src(&[("P/rec/b", &[12], 0.0), ("P/rec/rnn/b", &[12], 50.0)]);
    let plan = preload(vec![var("P/rec/rnn/lstm_cell/bias", &[12])], &opts(), &s);
    assert_eq!(
        status(&plan, "P/rec/rnn/lstm_cell/bias").1.unwrap(),
        vec!["P/rec/rnn/b"]
    );
}

/// §13.2 LSTMCell -> NativeLSTM (run K_plain).
#[test]
fn r_lstm_b2n_worked_example() {
    let s = src(&[
        ("K/rec/lstm_cell/kernel", &[5, 12], 300.0),
        ("K/rec/lstm_cell/bias", &[12], 400.0),
    ]);
    let plan = preload(
        vec![
            var("K/rec/W", &[2, 12]),
            var("K/rec/W_re", &[3, 12]),
            var("K/rec/b", &[12]),
        ],
        &opts(),
        &s,
    );
    let perm = |base: f64| -> Vec<f64> {
        [3.0, 4.0, 5.0, 0.0, 1.0, 2.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
            .iter()
            .map(|x| base + x)
            .collect()
    };
    assert_eq!(
        value(&plan, "K/rec/W", &s),
        [perm(300.0), perm(312.0)].concat()
    );
    assert_eq!(
        value(&plan, "K/rec/W_re", &s),
        [perm(324.0), perm(336.0), perm(348.0)].concat()
    );
    assert_eq!(value(&plan, "K/rec/b", &s), perm(400.0));
    assert_eq!(
        status(&plan, "K/rec/W_re").2.unwrap(),
        "convert:basic_lstm_to_native_lstm_W_re"
    );
    // R-LSTM-B2N-3: rnn/lstm_cell preferred over lstm_cell.
    let s2 = src(&[
        ("K/rec/lstm_cell/kernel", &[5, 12], 300.0),
        ("K/rec/lstm_cell/bias", &[12], 400.0),
        ("K/rec/rnn/lstm_cell/kernel", &[5, 12], 0.0),
        ("K/rec/rnn/lstm_cell/bias", &[12], 0.0),
    ]);
    let plan = preload(
        vec![
            var("K/rec/W", &[2, 12]),
            var("K/rec/W_re", &[3, 12]),
            var("K/rec/b", &[12]),
        ],
        &opts(),
        &s2,
    );
    assert_eq!(
        status(&plan, "K/rec/b").1.unwrap(),
        vec!["K/rec/rnn/lstm_cell/bias"]
    );
    assert_eq!(
        status(&plan, "K/rec/W").1.unwrap(),
        vec!["K/rec/rnn/lstm_cell/kernel"]
    );
    // RETURNN checks kernel and bias together: a bias that does not fit the kernel fails.
    let bad = src(&[
        ("K/rec/lstm_cell/kernel", &[5, 12], 300.0),
        ("K/rec/lstm_cell/bias", &[8], 400.0),
    ]);
    let e = preload_err(
        vec![
            var("K/rec/W", &[2, 12]),
            var("K/rec/W_re", &[3, 12]),
            var("K/rec/b", &[12]),
        ],
        &opts(),
        &bad,
    );
    assert_eq!(e.kind(), &MapErrorKind::ConversionFailed);
    // R-LSTM-B2N-4: W present in the checkpoint -> nothing converted, W_re and b unresolved.
    let s3 = src(&[
        ("K/rec/W", &[2, 12], 0.0),
        ("K/rec/lstm_cell/kernel", &[5, 12], 300.0),
        ("K/rec/lstm_cell/bias", &[12], 400.0),
    ]);
    let e = preload_err(
        vec![
            var("K/rec/W", &[2, 12]),
            var("K/rec/W_re", &[3, 12]),
            var("K/rec/b", &[12]),
        ],
        &opts(),
        &s3,
    );
    assert_eq!(
        e.message(),
        "CustomCheckpointLoader. could_not_find_map_list: ['K/rec/W_re', 'K/rec/b']"
    );
    // basic_lstm_cell sources are not supported in this direction.
    let s4 = src(&[
        ("K/rec/basic_lstm_cell/kernel", &[5, 12], 300.0),
        ("K/rec/basic_lstm_cell/bias", &[12], 400.0),
    ]);
    let e = preload_err(
        vec![
            var("K/rec/W", &[2, 12]),
            var("K/rec/W_re", &[3, 12]),
            var("K/rec/b", &[12]),
        ],
        &opts(),
        &s4,
    );
    assert_eq!(e.kind(), &MapErrorKind::MissingVars);
}

/// §13.3 CuDNN canonical -> LSTM block, prefix L (2-D) and M (flattened input weights).
#[test]
fn r_cudnn_worked_example() {
    for (prefix, flat) in [("L", false), ("M", true)] {
        let mut s = MemSource::new("src");
        for t in 0..16u64 {
            let base = if flat && t == 0 {
                1700.0
            } else if flat && t < 4 {
                1700.0 + 100.0 * t as f32
            } else {
                100.0 * (t + 1) as f32
            };
            let shape: Vec<u64> = match t {
                0..=3 if flat => vec![6],
                0..=3 => vec![3, 2],
                4..=7 => vec![3, 3],
                _ => vec![3],
            };
            s.insert(
                format!("{prefix}/rec/cudnn/CudnnRNNParamsToCanonical:{t}"),
                ident(&shape, base),
            );
        }
        let k = format!("{prefix}/rec/lstm_block_wrapper/kernel");
        let b = format!("{prefix}/rec/lstm_block_wrapper/bias");
        let plan = preload(vec![var(&k, &[5, 12]), var(&b, &[12])], &opts(), &s);
        let kernel = value(&plan, &k, &s);
        if flat {
            assert_eq!(
                &kernel[..12],
                &[
                    1700., 1702., 1704., 1900., 1902., 1904., 1800., 1802., 1804., 2000., 2002.,
                    2004.
                ]
            );
        } else {
            let want: Vec<f64> = vec![
                100., 102., 104., 300., 302., 304., 200., 202., 204., 400., 402., 404., 101., 103.,
                105., 301., 303., 305., 201., 203., 205., 401., 403., 405., 500., 503., 506., 700.,
                703., 706., 600., 603., 606., 800., 803., 806., 501., 504., 507., 701., 704., 707.,
                601., 604., 607., 801., 804., 807., 502., 505., 508., 702., 705., 708., 602., 605.,
                608., 802., 805., 808.,
            ];
            assert_eq!(kernel, want);
        }
        assert_eq!(
            value(&plan, &b, &s),
            vec![
                2200., 2202., 2204., 2600., 2602., 2604., 2400., 2402., 2404., 2800., 2802., 2804.
            ]
        );
        assert_eq!(
            status(&plan, &k).2.unwrap(),
            "convert:cudnn_to_lstm_block_kernel"
        );
        // R-CUDNN-1: no other target name is supported.
        let e = preload_err(
            vec![var(&format!("{prefix}/rec/rnn/lstm_cell/kernel"), &[5, 12])],
            &opts(),
            &s,
        );
        assert_eq!(e.kind(), &MapErrorKind::MissingVars);
    }
}

/// §13.4 batch norm v0 -> v2, v0 -> v1; R-BN-3/4.
#[test]
fn r_bn_versions() {
    let v0 = src(&[
        ("bn/batch_norm/bn_bn_output_beta", &[1, 1, 2], 100.0),
        ("bn/batch_norm/bn_bn_output_gamma", &[1, 1, 2], 200.0),
        ("bn/batch_norm/bn_bn_output_mean", &[1, 1, 2], 300.0),
        ("bn/batch_norm/bn_bn_output_variance", &[1, 1, 2], 400.0),
    ]);
    let params = ["beta", "gamma", "mean", "variance"];
    let v2: Vec<TargetVar> = params
        .iter()
        .map(|p| var(&format!("bn/batch_norm/v2_{p}"), &[2]))
        .collect();
    let plan = preload(v2, &opts(), &v0);
    for (i, p) in params.iter().enumerate() {
        let name = format!("bn/batch_norm/v2_{p}");
        let base = 100.0 * (i + 1) as f64;
        assert_eq!(value(&plan, &name, &v0), vec![base, base + 1.0]);
        assert_eq!(status(&plan, &name).2.unwrap(), "convert:batch_norm_to_v2");
    }
    let v1: Vec<TargetVar> = params
        .iter()
        .map(|p| var(&format!("bn/batch_norm/{p}"), &[1, 1, 2]))
        .collect();
    let plan = preload(v1, &opts(), &v0);
    assert_eq!(value(&plan, "bn/batch_norm/gamma", &v0), vec![200.0, 201.0]);
    assert_eq!(
        status(&plan, "bn/batch_norm/gamma").2.unwrap(),
        "rename:batch_norm_to_v1"
    );
    // v1 -> v2 flattens.
    let s = src(&[("bn/batch_norm/beta", &[1, 1, 2], 5.0)]);
    let plan = preload(vec![var("bn/batch_norm/v2_beta", &[2])], &opts(), &s);
    assert_eq!(value(&plan, "bn/batch_norm/v2_beta", &s), vec![5.0, 6.0]);
    // R-BN-3: v2 -> v1 matches by name and fails on the shape.
    let s = src(&[("bn/batch_norm/v2_beta", &[2], 5.0)]);
    let e = preload_err(vec![var("bn/batch_norm/beta", &[1, 1, 2])], &opts(), &s);
    assert_eq!(e.kind(), &MapErrorKind::ShapeMismatch);
    // R-BN-4: ambiguous candidates -> unresolved.
    let s = src(&[
        ("bn/batch_norm/a_beta", &[1, 1, 2], 0.0),
        ("bn/batch_norm/b_beta", &[1, 1, 2], 0.0),
    ]);
    let e = preload_err(vec![var("bn/batch_norm/beta", &[1, 1, 2])], &opts(), &s);
    assert_eq!(
        e.message(),
        "CustomCheckpointLoader. could_not_find_map_list: ['bn/batch_norm/beta']"
    );
    let s = src(&[
        ("bn/batch_norm/x_gamma", &[1, 1, 2], 0.0),
        ("bn/batch_norm/gamma", &[1, 1, 2], 0.0),
    ]);
    let e = preload_err(vec![var("bn/batch_norm/v2_gamma", &[2])], &opts(), &s);
    assert_eq!(e.kind(), &MapErrorKind::MissingVars);
}

#[test]
fn r_ren_rename_table() {
    // (checkpoint key, missing var, expected source key or None)
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("x/lstm_cell/biases", "x/lstm_cell/bias", Some("x/lstm_cell/biases")),
        ("x/lstm_cell/weights", "x/lstm_cell/kernel", Some("x/lstm_cell/weights")),
        ("x/lstm_cell/bias", "x/rnn/lstm_cell/bias", Some("x/lstm_cell/bias")),
        ("x/lstm_cell/kernel", "x/rnn/lstm_cell/weights", Some("x/lstm_cell/kernel")),
        ("x/rnn/lstm_cell/bias", "x/lstm_cell/bias", Some("x/rnn/lstm_cell/bias")),
        ("x/rnn/lstm_cell/kernel", "x/lstm_cell/kernel", Some("x/rnn/lstm_cell/kernel")),
        (
            "x/cudnn/params_canonical/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell/bias",
            "x/lstm_fused_cell/bias",
            Some("x/cudnn/params_canonical/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell/bias"),
        ),
        (
            "x/cudnn/params_canonical/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell/kernel",
            "x/lstm_fused_cell/kernel",
            Some("x/cudnn/params_canonical/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell/kernel"),
        ),
        // R-REN-9: no scope before the old suffix -> no match; row 4 targets .../weights.
        ("lstm_cell/biases", "lstm_cell/bias", None),
        ("x/lstm_cell/kernel", "x/rnn/lstm_cell/kernel", None),
    ];
    for (key, target, want) in cases {
        let s = src(&[(key, &[2], 1.0)]);
        let o = LoaderOptions {
            ignore_missing: true,
            ..opts()
        };
        let mut p = Planner::new(vec![var(target, &[2]), var("anchor", &[2])]);
        let s2 = s.clone().with("anchor", ident(&[2], 0.0));
        p.preload("e", &o, Ok(&s2)).unwrap();
        let plan = p.finish();
        let (st, keys, rule) = status(&plan, target);
        match want {
            Some(k) => {
                assert_eq!(st, Status::Loaded, "{key}");
                assert_eq!(keys.unwrap(), vec![k.to_string()]);
                assert!(rule.unwrap().starts_with("rename:"));
            }
            None => assert_eq!(st, Status::MissingIgnored, "{key}"),
        }
    }
    // R-REN-10: the largest obsolete key in sorted order wins.
    let s = src(&[
        ("x/lstm_cell/biases", &[2], 1.0),
        ("x/rnn/lstm_cell/bias", &[2], 2.0),
    ]);
    let plan = preload(vec![var("x/lstm_cell/bias", &[2])], &opts(), &s);
    assert_eq!(
        status(&plan, "x/lstm_cell/bias").1.unwrap(),
        vec!["x/rnn/lstm_cell/bias"]
    );
    assert_eq!(
        status(&plan, "x/lstm_cell/bias").2.unwrap(),
        "rename:rnn/lstm_cell/bias->lstm_cell/bias"
    );
}

#[test]
fn r_shape_and_dtype() {
    // R-SHAPE-1: we fail in the plan, ignore_missing does not help.
    let s = src(&[("l1/W", &[3, 3], 0.0)]);
    for ignore_missing in [false, true] {
        let o = LoaderOptions {
            ignore_missing,
            ..opts()
        };
        let e = preload_err(vec![var("l1/W", &[2, 3])], &o, &s);
        assert_eq!(e.kind(), &MapErrorKind::ShapeMismatch);
        assert!(e.message().starts_with(
            "Cannot feed value of shape (3, 3) for variable 'l1/W', which has shape (2, 3)"
        ));
    }
    // R-DTYPE-1: float64 300.1 -> float32 300.1000061.
    let mut s = MemSource::new("src");
    s.insert(
        "v",
        Array::new(DType::Float64, vec![1], 300.1f64.to_le_bytes().to_vec()).unwrap(),
    );
    let plan = preload(vec![var("v", &[1])], &opts(), &s);
    let a = plan.loaded().next().unwrap().evaluate(&s).unwrap();
    assert_eq!(a.dtype, DType::Float32);
    assert_eq!(a.data, 300.1f32.to_le_bytes().to_vec());
    // ... except where TF's Saver restores the main checkpoint (R-LPF-1): no conversion.
    let mut s = MemSource::new("src");
    s.insert(
        "v",
        Array::new(DType::Float64, vec![1], 300.1f64.to_le_bytes().to_vec()).unwrap(),
    );
    let mut p = Planner::new(vec![var("v", &[1])]);
    let e = p.main_load_with(&opts(), Ok(&s), true).unwrap_err();
    assert_eq!(e.kind(), &MapErrorKind::DtypeMismatch);
    let mut p = Planner::new(vec![var("v", &[1]), var("w", &[1])]);
    let o = LoaderOptions {
        ignore_missing: true,
        ..opts()
    };
    p.main_load_with(&o, Ok(&s), true).unwrap();
    // A string tensor cannot feed a float variable.
    let mut s = MemSource::new("src");
    s.insert("v", Array::new(DType::Int32, vec![1], vec![0; 4]).unwrap());
    let mut t = var("v", &[1]);
    t.dtype = DType::Complex64;
    let e = preload_err(vec![t], &opts(), &s);
    assert_eq!(e.kind(), &MapErrorKind::DtypeMismatch);
}

#[test]
fn checkpoint_open_error_comes_after_the_saveable_count() {
    let mut p = Planner::new(vec![var("l1/W", &[2])]);
    let o = LoaderOptions {
        load_if_prefix: "zz".into(),
        ..opts()
    };
    let open_err = param_map::MapError::new(
        MapErrorKind::Read,
        "Unsuccessful TensorSliceReader constructor",
    );
    let e = p.preload("e", &o, Err(open_err.clone())).unwrap_err();
    assert_eq!(e.kind(), &MapErrorKind::NoSaveableVars);
    let e = p.preload("e", &opts(), Err(open_err)).unwrap_err();
    assert_eq!(e.kind(), &MapErrorKind::Read);
}

fn main_with_importer(
    vars: Vec<TargetVar>,
    s: &MemSource,
    layer: &str,
    prefix: &str,
    mode: &str,
) -> Result<param_map::Plan, param_map::MapError> {
    let o = LoaderOptions {
        network: Some("<TFNetwork>".into()),
        importers: vec![param_map::Importer {
            layer: layer.into(),
            prefix: prefix.into(),
            mode: param_map::ImporterMode::parse(mode),
        }],
        ..opts()
    };
    let mut p = Planner::new(vars);
    p.main_load(&o, Ok(s as &dyn TensorSource))?;
    Ok(p.finish())
}

/// R-IMP-1..5 (string modes): the importer takes every key under its prefix; its vars are
/// never missing; same shapes are assigned (§13.5 numbers for the overlapping case).
#[test]
fn r_imp_custom_param_importer_modes() {
    let s = src(&[
        ("l1/W", &[2, 2], 30100.0),
        ("l1/b", &[2], 30200.0),
        ("out/W", &[2], 1.0),
    ]);
    let vars = || vec![var("l1/W", &[2, 2]), var("l1/b", &[2]), var("out/W", &[2])];
    // ifpossible / subset, same shapes: assigned.
    for mode in ["ifpossible", "subset"] {
        let plan = main_with_importer(vars(), &s, "l1", "l1/", mode).unwrap();
        assert_eq!(
            value(&plan, "l1/W", &s),
            vec![30100.0, 30101.0, 30102.0, 30103.0]
        );
        assert_eq!(value(&plan, "l1/b", &s), vec![30200.0, 30201.0]);
        assert_eq!(status(&plan, "out/W").0, Status::Loaded);
    }
    // reset: nothing assigned, and no missing-var error.
    let plan = main_with_importer(vars(), &s, "l1", "l1/", "reset").unwrap();
    assert_eq!(status(&plan, "l1/W").0, Status::RandomInit);
    assert_eq!(status(&plan, "out/W").0, Status::Loaded);
    // ifpossible with a shape change: skipped (target (2,3) vs ckpt (2,2)).
    let plan = main_with_importer(
        vec![var("l1/W", &[2, 3]), var("l1/b", &[2]), var("out/W", &[2])],
        &s,
        "l1",
        "l1/",
        "ifpossible",
    )
    .unwrap();
    assert_eq!(status(&plan, "l1/W").0, Status::RandomInit);
    assert_eq!(status(&plan, "l1/b").0, Status::Loaded);
    // subset with a shape change needs the random init: reported, not guessed.
    let e = main_with_importer(
        vec![var("l1/W", &[2, 3]), var("l1/b", &[3]), var("out/W", &[2])],
        &s,
        "l1",
        "l1/",
        "subset",
    )
    .unwrap_err();
    assert_eq!(e.kind(), &MapErrorKind::Unsupported);
    // R-IMP-5: a key under the prefix that is not a layer param.
    let s2 = s.clone().with("l1/extra", ident(&[1], 0.0));
    let e = main_with_importer(vars(), &s2, "l1", "l1/", "ifpossible").unwrap_err();
    assert_eq!(e.kind(), &MapErrorKind::ImporterFailed);
    assert!(e.message().contains("param 'extra' unknown"));
    // R-IMP-5: an importer whose prefix matches no key still captures its vars silently.
    let plan = main_with_importer(
        vec![var("new/W", &[2]), var("out/W", &[2])],
        &s,
        "new",
        "new/",
        "ifpossible",
    )
    .unwrap();
    assert_eq!(status(&plan, "new/W").0, Status::RandomInit);
    assert_eq!(status(&plan, "out/W").0, Status::Loaded);
    // Another truthy string: bare AssertionError.
    let e = main_with_importer(vars(), &s, "l1", "l1/", "bogus").unwrap_err();
    assert_eq!(e.kind(), &MapErrorKind::ImporterFailed);
    // Only the importer's vars are exempt from the missing-var check.
    let e = main_with_importer(
        vec![var("l1/W", &[2, 2]), var("x/lstm_cell/bias", &[2])],
        &s,
        "l1",
        "l1/",
        "reset",
    )
    .unwrap_err();
    assert_eq!(e.kind(), &MapErrorKind::MissingVars);
}

/// R-IMP-2: the importer looks var_name_mapping up with the key relative to its prefix.
#[test]
fn r_imp_2_importer_uses_var_name_mapping_with_relative_keys() {
    let s = src(&[
        ("l1/W", &[2, 2], 0.0),
        ("l1/b", &[2], 5.0),
        ("alt/W", &[2, 2], 70.0),
    ]);
    let o = LoaderOptions {
        network: Some("<TFNetwork>".into()),
        var_name_mapping: BTreeMap::from([("W".to_string(), "alt/W".to_string())]),
        importers: vec![param_map::Importer {
            layer: "l1".into(),
            prefix: "l1/".into(),
            mode: param_map::ImporterMode::IfPossible,
        }],
        ..opts()
    };
    let mut p = Planner::new(vec![var("l1/W", &[2, 2]), var("l1/b", &[2])]);
    p.main_load(&o, Ok(&s)).unwrap();
    let plan = p.finish();
    assert_eq!(value(&plan, "l1/W", &s), vec![70.0, 71.0, 72.0, 73.0]);
    assert_eq!(status(&plan, "l1/W").1.unwrap(), vec!["alt/W"]);
    assert_eq!(value(&plan, "l1/b", &s), vec![5.0, 6.0]);
}
