//! Golden test on the real RETURNN training fixture `returnn_train_nativelstm`: the example
//! rules in `examples/port-nativelstm/` with the config's network dict give exactly the plan
//! committed there, and every value equals an independent element-wise computation from the
//! checkpoint's raw tensors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use port::{plan::checkpoint_specs, Array, NetworkDict, PortPlan, Rules, TensorSpec};
use returnn_config::Config;
use tf_bundle::{Checkpoint, DType};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture() -> (NetworkDict, Checkpoint) {
    let dir = root().join("fixtures/returnn_train_nativelstm");
    let cfg = Config::load(&dir.join("returnn.config")).unwrap();
    let net = NetworkDict::from_config(&cfg).unwrap();
    let ckpt = Checkpoint::open(dir.join("net-model/network.003")).unwrap();
    (net, ckpt)
}

fn example_plan() -> (PortPlan, Checkpoint) {
    let (net, ckpt) = fixture();
    let text = std::fs::read_to_string(root().join("examples/port-nativelstm/rules.toml")).unwrap();
    let rules = Rules::from_toml(&text, "rules.toml").unwrap();
    let p = port::plan(&rules, Some(&net), &checkpoint_specs(&ckpt), None).unwrap();
    (p, ckpt)
}

fn f32s(a: &Array) -> Vec<f32> {
    assert_eq!(a.dtype, DType::Float32);
    a.data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn plan_matches_committed_document() {
    let (p, _) = example_plan();
    assert!(p.ok, "{:#?}", p.issues);
    let got = serde_json::to_string_pretty(&p).unwrap() + "\n";
    let path = root().join("examples/port-nativelstm/plan.json");
    if std::env::var_os("PORT_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        got, want,
        "plan differs from examples/port-nativelstm/plan.json (PORT_BLESS=1 rewrites it)"
    );
}

#[test]
fn values_equal_elementwise_reference() {
    let (p, ckpt) = example_plan();
    let raw = |n: &str| f32s(&port::TensorSource::read(&ckpt, n).unwrap());
    let (w, w_re, b) = (raw("fw0/rec/W"), raw("fw0/rec/W_re"), raw("fw0/rec/b"));
    let (n_in, n) = (9usize, 10usize);
    // NativeLSTM gate blocks j,i,f,o; RF i,f,j,o: RF block g comes from TF block src[g]
    let src = [1usize, 2, 0, 3];
    let col = |g: usize, u: usize| src[g] * n + u;
    let ff = f32s(&p.param("fw0.ff_weight").unwrap().compute(&ckpt).unwrap());
    let rec = f32s(&p.param("fw0.rec_weight").unwrap().compute(&ckpt).unwrap());
    let bias = f32s(&p.param("fw0.bias").unwrap().compute(&ckpt).unwrap());
    for g in 0..4 {
        for u in 0..n {
            let r = g * n + u;
            for i in 0..n_in {
                assert_eq!(ff[r * n_in + i], w[i * 4 * n + col(g, u)]);
            }
            for i in 0..n {
                assert_eq!(rec[r * n + i], w_re[i * 4 * n + col(g, u)]);
            }
            assert_eq!(bias[r], b[col(g, u)]);
        }
    }
    for name in ["hid", "output"] {
        let wt = p.param(&format!("{name}.weight")).unwrap();
        assert_eq!(f32s(&wt.compute(&ckpt).unwrap()), raw(&format!("{name}/W")));
        let bt = p.param(&format!("{name}.bias")).unwrap();
        assert_eq!(f32s(&bt.compute(&ckpt).unwrap()), raw(&format!("{name}/b")));
    }
    assert_eq!(p.params.len(), 7);
    assert_eq!(p.ignored.len(), 1);
    assert_eq!(p.ignored[0].name, "global_step");
}

#[test]
fn suggest_with_network_and_target_needs_no_edits() {
    let (net, ckpt) = fixture();
    let (p, _) = example_plan();
    let targets: Vec<TensorSpec> = p.outputs();
    let text = port::suggest(
        Some(&net),
        &checkpoint_specs(&ckpt),
        Some(&targets),
        &Default::default(),
    )
    .unwrap();
    let rules = Rules::from_toml(&text, "suggested.toml").unwrap();
    let q = port::plan(&rules, Some(&net), &checkpoint_specs(&ckpt), Some(&targets)).unwrap();
    assert!(q.ok, "{text}\n{:#?}", q.issues);
    let strip = |v: &[port::PlannedParam]| {
        v.iter()
            .map(|x| {
                (
                    x.target.clone(),
                    x.inputs.clone(),
                    x.transforms.clone(),
                    x.shape.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&q.params), strip(&p.params));
}

#[test]
fn without_network_dict_the_kinds_come_from_the_names() {
    let (_, ckpt) = fixture();
    let rules = Rules::default();
    let p = port::plan(&rules, None, &checkpoint_specs(&ckpt), None).unwrap();
    assert!(p.ok, "{:#?}", p.issues);
    let (q, _) = example_plan();
    assert_eq!(p.outputs(), q.outputs());
}
