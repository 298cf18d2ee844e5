//! One table-driven test per layer preset (docs/port-rules.md, "Presets"), on small
//! hand-computed cases, plus the plan's checks (unmapped, unfilled, shapes, dtypes, ignores,
//! rule precedence). The values are written out by hand from the formulas, not computed by
//! the code under test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::BTreeMap;

use port::{plan, Array, PortErrorKind, PortPlan, Rules, TensorSpec};
use tf_bundle::DType;

fn f(shape: &[u64], v: &[f32]) -> Array {
    Array::from_f32(shape.to_vec(), v).unwrap()
}

fn vals(a: &Array) -> Vec<f32> {
    a.data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

struct Case {
    rules: &'static str,
    vars: Vec<(&'static str, Array)>,
    /// target -> (shape, values)
    want: Vec<(&'static str, Vec<u64>, Vec<f32>)>,
}

fn run(case: &Case) -> PortPlan {
    let rules = Rules::from_toml(case.rules, "t.toml").unwrap();
    let specs: Vec<TensorSpec> = case
        .vars
        .iter()
        .map(|(n, a)| TensorSpec::new(*n, a.dtype, a.shape.clone()))
        .collect();
    let src: BTreeMap<String, Array> = case
        .vars
        .iter()
        .map(|(n, a)| (n.to_string(), a.clone()))
        .collect();
    let p = plan(&rules, None, &specs, None).unwrap();
    assert!(p.ok, "{:#?}", p.issues);
    let got: Vec<&str> = p.params.iter().map(|x| x.target.as_str()).collect();
    let mut want: Vec<&str> = case.want.iter().map(|w| w.0).collect();
    want.sort();
    assert_eq!(got, want, "targets");
    for (t, shape, v) in &case.want {
        let a = p.param(t).unwrap().compute(&src).unwrap();
        assert_eq!(&a.shape, shape, "{t}");
        assert_eq!(&vals(&a), v, "{t}");
    }
    p
}

const V1: &str = "version = 1\n";

#[test]
fn linear_presets() {
    let w = f(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let b = f(&[3], &[7., 8., 9.]);
    // rf.Linear: identity
    run(&Case {
        rules: "version = 1\n[[layer]]\nname = \"l\"\nmodule = \"rf.Linear\"\n",
        vars: vec![("l/W", w.clone()), ("l/b", b.clone())],
        want: vec![
            ("l.weight", vec![2, 3], vec![1., 2., 3., 4., 5., 6.]),
            ("l.bias", vec![3], vec![7., 8., 9.]),
        ],
    });
    // nn.Linear: W.T
    run(&Case {
        rules: "version = 1\n[[layer]]\nname = \"l\"\nmodule = \"nn.Linear\"\ntarget = \"x.lin\"\n",
        vars: vec![("l/W", w.clone()), ("l/b", b.clone())],
        want: vec![
            ("x.lin.weight", vec![3, 2], vec![1., 4., 2., 5., 3., 6.]),
            ("x.lin.bias", vec![3], vec![7., 8., 9.]),
        ],
    });
    // use_transposed_weights: W is [out, in]; rf.Linear wants [in, out]
    run(&Case {
        rules: "version = 1\n[[layer]]\nname = \"l\"\nmodule = \"rf.Linear\"\nuse_transposed_weights = true\n",
        vars: vec![("l/W", w.clone())],
        want: vec![("l.weight", vec![3, 2], vec![1., 4., 2., 5., 3., 6.])],
    });
    // embedding: identity, no bias
    run(&Case {
        rules: "version = 1\n[[layer]]\nname = \"e\"\nsource = \"embedding\"\nmodule = \"nn.Embedding\"\n",
        vars: vec![("e/W", w)],
        want: vec![("e.weight", vec![2, 3], vec![1., 2., 3., 4., 5., 6.])],
    });
}

#[test]
fn conv_presets() {
    // TF 1-D filter [k=2, in=1, out=2]: W[k][0][o] = 10k + o
    let w = f(&[2, 1, 2], &[0., 1., 10., 11.]);
    // RF / torch: [out, in, k]: filter[o][0][k] = 10k + o
    for (module, name) in [("rf.Conv1d", "filter"), ("nn.Conv1d", "weight")] {
        let rules = format!("version = 1\n[[layer]]\nname = \"c\"\nmodule = \"{module}\"\n");
        let p = run(&Case {
            rules: Box::leak(rules.into_boxed_str()),
            vars: vec![("c/W", w.clone()), ("c/bias", f(&[2], &[5., 6.]))],
            want: vec![
                (
                    Box::leak(format!("c.{name}").into_boxed_str()),
                    vec![2, 1, 2],
                    vec![0., 10., 1., 11.],
                ),
                ("c.bias", vec![2], vec![5., 6.]),
            ],
        });
        assert_eq!(
            p.layers[0].module_options["filter_size"],
            serde_json::json!([2])
        );
    }
    // 2-D [kh=1, kw=2, in=1, out=2] -> [out, in, kh, kw]
    run(&Case {
        rules: V1,
        vars: vec![("c/W", f(&[1, 2, 1, 2], &[0., 1., 10., 11.]))],
        want: vec![("c.filter", vec![2, 1, 1, 2], vec![0., 10., 1., 11.])],
    });
}

#[test]
fn native_lstm_presets() {
    // n = 1, n_in = 1; gate blocks j, i, f, o
    let vars = || {
        vec![
            ("r/rec/W", f(&[1, 4], &[1., 2., 3., 4.])),
            ("r/rec/W_re", f(&[1, 4], &[5., 6., 7., 8.])),
            ("r/rec/b", f(&[4], &[0.1, 0.2, 0.3, 0.4])),
        ]
    };
    // RF i, f, j, o
    run(&Case {
        rules: V1,
        vars: vars(),
        want: vec![
            ("r.ff_weight", vec![4, 1], vec![2., 3., 1., 4.]),
            ("r.rec_weight", vec![4, 1], vec![6., 7., 5., 8.]),
            ("r.bias", vec![4], vec![0.2, 0.3, 0.1, 0.4]),
        ],
    });
    // torch: same weights, half the bias in each
    run(&Case {
        rules: "version = 1\n[defaults]\nstyle = \"torch\"\n",
        vars: vars(),
        want: vec![
            ("r.weight_ih_l0", vec![4, 1], vec![2., 3., 1., 4.]),
            ("r.weight_hh_l0", vec![4, 1], vec![6., 7., 5., 8.]),
            ("r.bias_ih_l0", vec![4], vec![0.1, 0.15, 0.05, 0.2]),
            ("r.bias_hh_l0", vec![4], vec![0.1, 0.15, 0.05, 0.2]),
        ],
    });
}

#[test]
fn lstm_cell_presets_fold_the_forget_bias() {
    // kernel rows [x; h], gate blocks i, j, f, o
    let vars = |dir: &'static str| {
        vec![
            (dir, f(&[2, 4], &[1., 2., 3., 4., 5., 6., 7., 8.])),
            (
                Box::leak(dir.replace("kernel", "bias").into_boxed_str()) as &str,
                f(&[4], &[0.5, 0.25, 0.75, 1.0]),
            ),
        ]
    };
    let want = |fb: f32| {
        vec![
            ("r.ff_weight", vec![4, 1], vec![1., 3., 2., 4.]),
            ("r.rec_weight", vec![4, 1], vec![5., 7., 6., 8.]),
            ("r.bias", vec![4], vec![0.5, 0.75 + fb, 0.25, 1.0]),
        ]
    };
    // default forget_bias 1.0 (TF's LSTMCell / BasicLSTMCell / LSTMBlock*)
    for dir in [
        "r/rec/lstm_cell/kernel",
        "r/rec/rnn/lstm_cell/kernel",
        "r/rec/basic_lstm_cell/kernel",
    ] {
        run(&Case {
            rules: V1,
            vars: vars(dir),
            want: want(1.0),
        });
    }
    run(&Case {
        rules: "version = 1\n[[layer]]\nname = \"r\"\nforget_bias = 2.5\n",
        vars: vars("r/rec/lstm_cell/kernel"),
        want: want(2.5),
    });
    run(&Case {
        rules: "version = 1\n[[layer]]\nname = \"r\"\nforget_bias = 0.0\n",
        vars: vars("r/rec/lstm_block_wrapper/kernel"),
        want: want(0.0),
    });
}

#[test]
fn lstm_projection_only_to_torch() {
    // n = 2 units, p = 1, n_in = 1: kernel [n_in + p, 4n] = [2, 8], projection [n, p] = [2, 1]
    let k: Vec<f32> = (0..16).map(|i| i as f32).collect();
    let vars = vec![
        ("r/rec/lstm_cell/kernel", f(&[2, 8], &k)),
        ("r/rec/lstm_cell/bias", f(&[8], &[0.; 8])),
        ("r/rec/lstm_cell/projection/kernel", f(&[2, 1], &[3., 4.])),
    ];
    // blocks (width 2) i=0,1 j=2,3 f=4,5 o=6,7 -> i, f, j, o
    let ff = vec![0., 1., 4., 5., 2., 3., 6., 7.];
    let rec = vec![8., 9., 12., 13., 10., 11., 14., 15.];
    run(&Case {
        rules: "version = 1\n[[layer]]\nname = \"r\"\nforget_bias = 0.0\n",
        vars: vars.clone(),
        want: vec![
            ("r.weight_ih_l0", vec![8, 1], ff),
            ("r.weight_hh_l0", vec![8, 1], rec),
            ("r.bias_ih_l0", vec![8], vec![0.; 8]),
            ("r.bias_hh_l0", vec![8], vec![0.; 8]),
            ("r.weight_hr_l0", vec![1, 2], vec![3., 4.]),
        ],
    });
    let rules = Rules::from_toml(
        "version = 1\n[[layer]]\nname = \"r\"\nmodule = \"rf.LSTM\"\n",
        "t",
    )
    .unwrap();
    let specs: Vec<TensorSpec> = vars
        .iter()
        .map(|(n, a)| TensorSpec::new(*n, a.dtype, a.shape.clone()))
        .collect();
    let p = plan(&rules, None, &specs, None).unwrap();
    assert_eq!(p.issues[0].kind, PortErrorKind::Unsupported);
}

#[test]
fn cudnn_canonical_preset() {
    // n = 1, n_in = 1; canonical: weights i, f, c, o (input then recurrent), biases likewise
    let mut vars = Vec::new();
    let names: Vec<&'static str> = (0..16)
        .map(|t| &*Box::leak(format!("r/rec/cudnn/CudnnRNNParamsToCanonical:{t}").into_boxed_str()))
        .collect();
    let v = [
        1., 2., 3., 4., 5., 6., 7., 8., 0.5, 0.25, 1.5, 2.0, 0.5, 0.25, 0.5, 1.0,
    ];
    for (t, n) in names.iter().enumerate() {
        vars.push((*n, f(&[1], &[v[t]])));
    }
    // RF i, f, j(=c), o: ff [wi, wf, wc, wo]; bias = input + recurrent bias
    run(&Case {
        rules: V1,
        vars,
        want: vec![
            ("r.ff_weight", vec![4, 1], vec![1., 2., 3., 4.]),
            ("r.rec_weight", vec![4, 1], vec![5., 6., 7., 8.]),
            ("r.bias", vec![4], vec![1.0, 0.5, 2.0, 3.0]),
        ],
    });
}

#[test]
fn batch_norm_presets() {
    let stats = |pre: &'static str, shape: &[u64]| {
        ["mean", "variance", "gamma", "beta"]
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    &*Box::leak(format!("bn/batch_norm/{pre}{p}").into_boxed_str()),
                    f(shape, &[i as f32, i as f32 + 0.5]),
                )
            })
            .collect::<Vec<_>>()
    };
    for (pre, shape) in [
        ("v2_", vec![2u64]),
        ("", vec![1, 1, 2]),
        ("bn_bn_output_", vec![1, 1, 2]),
    ] {
        run(&Case {
            rules: V1,
            vars: stats(pre, &shape),
            want: vec![
                ("bn.running_mean", vec![2], vec![0., 0.5]),
                ("bn.running_variance", vec![2], vec![1., 1.5]),
                ("bn.gamma", vec![2], vec![2., 2.5]),
                ("bn.beta", vec![2], vec![3., 3.5]),
            ],
        });
    }
    // torch names; num_batches_tracked = 0 (int64)
    let p = run(&Case {
        rules: "version = 1\n[defaults]\nstyle = \"torch\"\n[ignore]\ntargets = [\"bn.num_batches_tracked\"]\n",
        vars: stats("v2_", &[2]),
        want: vec![
            ("bn.running_mean", vec![2], vec![0., 0.5]),
            ("bn.running_var", vec![2], vec![1., 1.5]),
            ("bn.weight", vec![2], vec![2., 2.5]),
            ("bn.bias", vec![2], vec![3., 3.5]),
        ],
    });
    assert_eq!(p.ignored_targets, vec!["bn.num_batches_tracked"]);
    let rules = Rules::from_toml("version = 1\n[defaults]\nstyle = \"torch\"\n", "t").unwrap();
    let vars = stats("v2_", &[2]);
    let specs: Vec<TensorSpec> = vars
        .iter()
        .map(|(n, a)| TensorSpec::new(*n, a.dtype, a.shape.clone()))
        .collect();
    let p = plan(&rules, None, &specs, None).unwrap();
    let nbt = p.param("bn.num_batches_tracked").unwrap();
    assert_eq!((nbt.dtype, nbt.shape.clone()), (DType::Int64, vec![]));
    let src: BTreeMap<String, Array> = BTreeMap::new();
    assert_eq!(nbt.compute(&src).unwrap().data, 0i64.to_le_bytes());
    // batch norm of a layer with its own parameters: layer "<l>/batch_norm", target "<l>.batch_norm"
    run(&Case {
        rules: V1,
        vars: vec![
            ("l/W", f(&[1, 2], &[1., 2.])),
            ("l/batch_norm/v2_mean", f(&[2], &[0., 0.])),
            ("l/batch_norm/v2_variance", f(&[2], &[1., 1.])),
        ],
        want: vec![
            ("l.weight", vec![1, 2], vec![1., 2.]),
            ("l.batch_norm.running_mean", vec![2], vec![0., 0.]),
            ("l.batch_norm.running_variance", vec![2], vec![1., 1.]),
        ],
    });
}

#[test]
fn layer_norm_and_self_attention_presets() {
    run(&Case {
        rules: "version = 1\n[[layer]]\nname = \"ln\"\nmodule = \"nn.LayerNorm\"\n",
        vars: vec![
            ("ln/scale", f(&[2], &[1., 2.])),
            ("ln/bias", f(&[2], &[3., 4.])),
        ],
        want: vec![
            ("ln.weight", vec![2], vec![1., 2.]),
            ("ln.bias", vec![2], vec![3., 4.]),
        ],
    });
    run(&Case {
        rules: V1,
        vars: vec![
            ("ln/scale", f(&[2], &[1., 2.])),
            ("ln/bias", f(&[2], &[3., 4.])),
        ],
        want: vec![
            ("ln.scale", vec![2], vec![1., 2.]),
            ("ln.bias", vec![2], vec![3., 4.]),
        ],
    });
    let qkv = f(&[1, 3], &[1., 2., 3.]);
    run(&Case {
        rules: V1,
        vars: vec![("att/QKV", qkv.clone())],
        want: vec![("att.qkv.weight", vec![1, 3], vec![1., 2., 3.])],
    });
    run(&Case {
        rules:
            "version = 1\n[[layer]]\nname = \"att\"\nmodule = \"nn.Linear\"\ntarget = \"att.qkv\"\n",
        vars: vec![("att/QKV", qkv)],
        want: vec![("att.qkv.weight", vec![3, 1], vec![1., 2., 3.])],
    });
}

fn plan_of(
    rules: &str,
    vars: &[(&str, DType, Vec<u64>)],
    targets: Option<&[(&str, DType, Vec<u64>)]>,
) -> PortPlan {
    let rules = Rules::from_toml(rules, "t.toml").unwrap();
    let specs: Vec<TensorSpec> = vars
        .iter()
        .map(|(n, d, s)| TensorSpec::new(*n, *d, s.clone()))
        .collect();
    let t: Option<Vec<TensorSpec>> = targets.map(|t| {
        t.iter()
            .map(|(n, d, s)| TensorSpec::new(*n, *d, s.clone()))
            .collect()
    });
    plan(&rules, None, &specs, t.as_deref()).unwrap()
}

fn kinds(p: &PortPlan) -> Vec<PortErrorKind> {
    p.issues.iter().map(|i| i.kind).collect()
}

const F32: DType = DType::Float32;

#[test]
fn plan_checks_against_the_target() {
    let vars = [
        ("l/W", F32, vec![2, 3]),
        ("l/b", F32, vec![3]),
        ("global_step", DType::Int64, vec![]),
    ];
    // all fine
    let ok = plan_of(
        V1,
        &vars,
        Some(&[("l.weight", F32, vec![2, 3]), ("l.bias", F32, vec![3])]),
    );
    assert!(ok.ok && ok.checked_against_target);
    assert_eq!(ok.ignored[0].reason, "bookkeeping");
    // shape, dtype, unknown and unfilled targets
    let p = plan_of(
        V1,
        &vars,
        Some(&[
            ("l.weight", F32, vec![3, 2]),
            ("l.bias", DType::Float16, vec![3]),
            ("other", F32, vec![1]),
        ]),
    );
    assert_eq!(
        kinds(&p),
        vec![
            PortErrorKind::DtypeMismatch,
            PortErrorKind::ShapeMismatch,
            PortErrorKind::UnfilledTarget
        ]
    );
    assert!(p.issues[1].message.contains("(3, 2)") && p.issues[1].message.contains("(2, 3)"));
    let p = plan_of(V1, &vars, Some(&[("l.weight", F32, vec![2, 3])]));
    assert_eq!(kinds(&p), vec![PortErrorKind::UnknownTarget]);
    // cast = true converts to the target dtype
    let p = plan_of(
        "version = 1\n[defaults]\ncast = true\n",
        &vars,
        Some(&[
            ("l.weight", DType::Float16, vec![2, 3]),
            ("l.bias", F32, vec![3]),
        ]),
    );
    assert!(p.ok);
    assert_eq!(
        p.param("l.weight").unwrap().transforms.last().unwrap(),
        &port::Op::Cast {
            dtype: DType::Float16
        }
    );
    // ignore.targets: an unfilled target that is fine
    let p = plan_of(
        "version = 1\n[ignore]\ntargets_match = [\"other\\\\..*\"]\n",
        &vars,
        Some(&[
            ("l.weight", F32, vec![2, 3]),
            ("l.bias", F32, vec![3]),
            ("other.x", F32, vec![1]),
        ]),
    );
    assert!(p.ok, "{:?}", p.issues);
    assert_eq!(p.ignored_targets, vec!["other.x"]);
}

#[test]
fn unmapped_unknown_kind_and_ignores() {
    let vars = [
        ("x/foo", F32, vec![2]),
        ("l/W", F32, vec![2, 2]),
        ("opt/l/W/Adam", F32, vec![2, 2]),
    ];
    let p = plan_of(V1, &vars, None);
    assert_eq!(kinds(&p), vec![PortErrorKind::UnmappedVariable]);
    assert_eq!(p.unmapped[0].name, "x/foo");
    let p = plan_of("version = 1\n[ignore]\ntf = [\"x/foo\"]\n", &vars, None);
    assert!(p.ok);
    let p = plan_of(
        "version = 1\n[defaults]\nignore_bookkeeping = false\n[ignore]\ntf_match = [\"x/.*\"]\n",
        &vars,
        None,
    );
    assert_eq!(
        p.unmapped
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>(),
        vec!["opt/l/W/Adam"]
    );
    // a rule naming a layer nobody knows, without source
    let p = plan_of("version = 1\n[[layer]]\nname = \"x\"\n", &vars, None);
    assert!(kinds(&p).contains(&PortErrorKind::KindUnknown));
    // ... with source: its variables must be there
    let p = plan_of(
        "version = 1\n[[layer]]\nname = \"x\"\nsource = \"linear\"\n",
        &vars,
        None,
    );
    assert!(
        kinds(&p).contains(&PortErrorKind::KindMismatch),
        "{:?}",
        p.issues
    );
    // a layer rule that ignores the layer
    let p = plan_of(
        "version = 1\n[[layer]]\nname = \"l\"\nignore = true\n[ignore]\ntf = [\"x/foo\"]\n",
        &vars,
        None,
    );
    assert!(p.ok && p.params.is_empty());
    assert!(p
        .ignored
        .iter()
        .any(|i| i.name == "l/W" && i.reason.contains("layer rule 1")));
}

#[test]
fn var_rules_regex_groups_and_precedence() {
    let vars = [
        ("enc_01/W", F32, vec![2, 3]),
        ("enc_02/W", F32, vec![2, 3]),
        ("pos/encoding_matrix", F32, vec![4, 2]),
    ];
    let rules = r#"version = 1
[[layer]]
match = "enc_0(\\d)"
module = "nn.Linear"
target = "encoder.layers.{1}.ff"

[[var]]
name = "pos/encoding_matrix"
target = "pos_emb"
transforms = [{ op = "transpose", axes = [1, 0] }, { op = "scale", factor = 2.0 }]
"#;
    let p = plan_of(rules, &vars, None);
    assert!(p.ok, "{:?}", p.issues);
    let names: Vec<&str> = p.params.iter().map(|x| x.target.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "encoder.layers.1.ff.weight",
            "encoder.layers.2.ff.weight",
            "pos_emb"
        ]
    );
    assert_eq!(p.param("pos_emb").unwrap().shape, vec![2, 4]);
    // a [[var]] rule takes a variable away from its layer's preset
    let rules = "version = 1\n[[var]]\nmatch = \"(enc_0\\\\d)/W\"\ntarget = \"{1}.w_raw\"\n[ignore]\ntf = [\"pos/encoding_matrix\"]\n";
    let p = plan_of(rules, &vars, None);
    assert!(p.ok, "{:?}", p.issues);
    assert_eq!(
        p.params
            .iter()
            .map(|x| x.target.as_str())
            .collect::<Vec<_>>(),
        vec!["enc_01.w_raw", "enc_02.w_raw"]
    );
    // two rules filling one target
    let rules = "version = 1\n[[var]]\nname = \"enc_01/W\"\ntarget = \"x\"\n[[var]]\nname = \"enc_02/W\"\ntarget = \"x\"\n[ignore]\ntf = [\"pos/encoding_matrix\"]\n";
    assert_eq!(
        kinds(&plan_of(rules, &vars, None)),
        vec![PortErrorKind::DuplicateTarget]
    );
    // concat of two inputs
    let rules = "version = 1\n[[var]]\ninputs = [\"enc_01/W\", \"enc_02/W\"]\ntarget = \"both\"\ntransforms = [{ op = \"concat\", axis = 0 }]\n[ignore]\ntf = [\"pos/encoding_matrix\"]\n";
    let p = plan_of(rules, &vars, None);
    assert_eq!(p.param("both").unwrap().shape, vec![4, 3]);
    // a transform that does not fit is reported in the plan, before any value is read
    let rules = "version = 1\n[[var]]\nname = \"pos/encoding_matrix\"\ntarget = \"p\"\ntransforms = [{ op = \"gate_reorder\", axis = 1, from = \"jifo\", to = \"ifjo\" }]\n";
    assert!(kinds(&plan_of(rules, &vars, None)).contains(&PortErrorKind::TransformFailed));
}

#[test]
fn rules_file_errors_name_file_and_line() {
    let e = Rules::from_toml("version = 1\n[[layer]]\nnmae = \"x\"\n", "r.toml").unwrap_err();
    assert_eq!(e.kind(), PortErrorKind::RulesSyntax);
    assert_eq!(e.file(), Some("r.toml"));
    assert!(
        e.message().contains("line 3") && e.message().contains("nmae"),
        "{e}"
    );
    let e = Rules::from_toml("version = 2\n", "r.toml").unwrap_err();
    assert_eq!(e.kind(), PortErrorKind::RulesInvalid);
    let e = Rules::from_toml("version = 1\n[[layer]]\nmatch = \"(\"\n", "r.toml").unwrap_err();
    assert_eq!(e.kind(), PortErrorKind::RulesInvalid);
    let e = Rules::from_toml(
        "version = 1\n[[layer]]\nname = \"a\"\nsource = \"conv\"\nmodule = \"rf.LSTM\"\n",
        "r.toml",
    )
    .unwrap_err();
    assert!(e.message().contains("cannot hold"), "{e}");
    let e = Rules::from_toml(
        "version = 1\n[[var]]\nname = \"a\"\ntarget = \"b\"\ntransforms = [{ op = \"flip\" }]\n",
        "r.toml",
    )
    .unwrap_err();
    assert_eq!(e.kind(), PortErrorKind::RulesSyntax);
    // the rules type round-trips through TOML
    let text = "version = 1\n[[layer]]\nname = \"a\"\nsource = \"lstm_cell\"\nmodule = \"torch.nn.LSTM\"\nforget_bias = 0.5\n[layer.params]\nweight_ih_l0 = \"weight_ih_l0_reverse\"\n";
    let r = Rules::from_toml(text, "r").unwrap();
    assert_eq!(Rules::from_toml(&r.to_toml().unwrap(), "r2").unwrap(), r);
}

#[test]
fn labels_are_snake_case_and_match_serde() {
    for k in [
        PortErrorKind::RulesSyntax,
        PortErrorKind::KindUnknown,
        PortErrorKind::UnmappedVariable,
        PortErrorKind::UnfilledTarget,
        PortErrorKind::ShapeMismatch,
        PortErrorKind::Read,
    ] {
        assert_eq!(
            serde_json::to_value(k).unwrap(),
            serde_json::json!(k.label())
        );
    }
}

/// Regression (port-oracle seed 2, cases 24 and 27): a square linear weight fits rf.Linear
/// (as is) and nn.Linear (transposed) alike; suggest must take the style the other layers of
/// the target show (here an nn.LSTM), not RF.
#[test]
fn suggest_resolves_square_linear_by_the_other_layers() {
    let vars = [
        ("l0/W", F32, vec![3, 3]),
        ("l1/rec/W", F32, vec![3, 8]),
        ("l1/rec/W_re", F32, vec![2, 8]),
        ("l1/rec/b", F32, vec![8]),
    ];
    let specs: Vec<TensorSpec> = vars
        .iter()
        .map(|(n, d, s)| TensorSpec::new(*n, *d, s.clone()))
        .collect();
    let torch = [
        ("l0.weight", vec![3u64, 3]),
        ("l1.weight_ih_l0", vec![8, 3]),
        ("l1.weight_hh_l0", vec![8, 2]),
        ("l1.bias_ih_l0", vec![8]),
        ("l1.bias_hh_l0", vec![8]),
    ];
    let targets: Vec<TensorSpec> = torch
        .iter()
        .map(|(n, s)| TensorSpec::new(*n, F32, s.clone()))
        .collect();
    let text = port::suggest(None, &specs, Some(&targets), &Default::default()).unwrap();
    let rules = Rules::from_toml(&text, "s.toml").unwrap();
    assert_eq!(
        rules.layers[0].module,
        Some(port::ModuleKind::NnLinear),
        "{text}"
    );
    let p = plan(&rules, None, &specs, Some(&targets)).unwrap();
    assert!(p.ok);
    assert_eq!(
        p.param("l0.weight").unwrap().transforms,
        vec![port::Op::Transpose { axes: vec![1, 0] }]
    );
    // only the square linear layer: nothing shows the style; RF, with a comment, or the option
    let one = &targets[..1];
    let text = port::suggest(None, &specs[..1], Some(one), &Default::default()).unwrap();
    assert!(text.contains("both rf.Linear and nn.Linear fit"), "{text}");
    let opts = port::SuggestOptions {
        style: Some(port::Style::Torch),
    };
    let text = port::suggest(None, &specs[..1], Some(one), &opts).unwrap();
    assert!(text.contains("module = \"nn.Linear\""), "{text}");
}

/// Regression (port-oracle, first run): RETURNN on TF 2 builds num_proj == num_units only, and
/// torch's nn.LSTM cannot hold proj_size >= hidden_size: reported, not ported wrongly.
#[test]
fn lstm_projection_not_smaller_than_units_is_unsupported() {
    let vars = [
        ("r/rec/lstm_cell/kernel", F32, vec![4, 8]),
        ("r/rec/lstm_cell/bias", F32, vec![8]),
        ("r/rec/lstm_cell/projection/kernel", F32, vec![2, 2]),
    ];
    let p = plan_of(
        "version = 1\n[[layer]]\nname = \"r\"\nmodule = \"nn.LSTM\"\n",
        &vars,
        None,
    );
    assert_eq!(p.issues[0].kind, PortErrorKind::Unsupported);
    assert!(
        p.issues[0].message.contains("proj_size < hidden_size"),
        "{}",
        p.issues[0].message
    );
}

/// Regression (proptest meta_twin_agrees_with_apply): the shape check must refuse a fractional
/// constant for an integer array, as the value function does.
#[test]
fn integer_arrays_take_integer_constants_only() {
    let m = port::Meta {
        dtype: DType::Int64,
        shape: vec![2],
    };
    assert!(port::Op::Scale { factor: 0.5 }
        .output_meta(std::slice::from_ref(&m))
        .is_err());
    assert!(port::Op::Scale { factor: 2.0 }.output_meta(&[m]).is_ok());
}

/// Sub-layers of a `rec` unit dict and of a `subnetwork` get `outer/inner` names and
/// `outer.inner` targets; their variables live under `outer/rec/inner/` and `outer/inner/`.
#[test]
fn network_dict_sublayers_and_options() {
    let cfg = returnn_config::Config::from_text(
        r#"#!rnn.py
network = {
  "dec": {"class": "rec", "from": "data", "unit": {
      "s": {"class": "rec", "unit": "standardlstm", "unit_opts": {"forget_bias": 0.5}, "from": ["prev:s"], "n_out": 1},
      "output": {"class": "copy", "from": "s"}}},
  "sub": {"class": "subnetwork", "from": "dec", "subnetwork": {
      "lin": {"class": "linear", "from": "data", "n_out": 2, "use_transposed_weights": True},
      "output": {"class": "copy", "from": "lin"}}},
  "emb": {"class": "linear", "from": "data:classes", "n_out": 2, "with_bias": False},
}
extern_data = {"data": {"dim": 1}, "classes": {"dim": 3, "sparse": True}}
"#,
        "c.py",
    )
    .unwrap();
    let net = port::NetworkDict::from_config(&cfg).unwrap();
    let vars = [
        ("dec/rec/s/rec/lstm_cell/kernel", F32, vec![2, 4]),
        ("dec/rec/s/rec/lstm_cell/bias", F32, vec![4]),
        ("sub/lin/W", F32, vec![2, 1]),
        ("sub/lin/b", F32, vec![2]),
        ("emb/W", F32, vec![3, 2]),
    ];
    let specs: Vec<TensorSpec> = vars
        .iter()
        .map(|(n, d, s)| TensorSpec::new(*n, *d, s.clone()))
        .collect();
    let p = plan(&Rules::default(), Some(&net), &specs, None).unwrap();
    assert!(p.ok, "{:?}", p.issues);
    let names: Vec<&str> = p.params.iter().map(|x| x.target.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "dec.s.bias",
            "dec.s.ff_weight",
            "dec.s.rec_weight",
            "emb.weight",
            "sub.lin.bias",
            "sub.lin.weight"
        ]
    );
    let bias = p.param("dec.s.bias").unwrap();
    assert!(bias.transforms.contains(&port::Op::Add {
        value: 0.5,
        axis: Some(0),
        blocks: Some(4),
        block: Some(1)
    }));
    // use_transposed_weights from the dict: W [out, in] -> rf.Linear [in, out]
    assert_eq!(p.param("sub.lin.weight").unwrap().shape, vec![1, 2]);
    let emb = p.layers.iter().find(|l| l.layer == "emb").unwrap();
    assert_eq!(emb.module, Some(port::ModuleKind::RfEmbedding));
    // a network value that is not a dict literal
    let bad = returnn_config::Config::from_text("#!rnn.py\nnetwork = make()\n", "c.py").unwrap();
    assert_eq!(
        port::NetworkDict::from_config(&bad).unwrap_err().kind(),
        PortErrorKind::NetworkInvalid
    );
}
