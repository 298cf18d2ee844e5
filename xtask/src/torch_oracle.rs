//! `cargo xtask torch-oracle [--cases N] [--rf-cases M] [--seed S] [--keep DIR] [--expected FILE]`:
//! differential oracle of returnn-ckpt's PyTorch-engine loading rules
//! (`engine::torch_plan` -> `param_map::torch::plan_torch`) against real RETURNN's
//! `returnn/torch/engine.py` `_load_model`.
//!
//! `tools/torch-oracle/torch_oracle.py` (pinned venv, one Python process for all cases: torch's
//! import and RETURNN's engine start are slow) generates seeded random cases (modules as torch
//! `nn.Module`s or RF modules with non-critical params, aux params, buffers, tied weights and a
//! BatchNorm; `.pt` / `.safetensors` files; Python configs with task train / eval / forward,
//! existing epochs, `load`, `import_model_train_epoch1` and 0-4 `preload_from_files` entries with
//! every option) and records what RETURNN's engine did: per parameter the final value's sha256,
//! whether it kept its initial value, whether it was frozen, and which file tensors give that
//! value; or the exception. This task then plans every case with the library (no CLI) and
//! compares: error versus no error and the exception text; per parameter the status (loaded /
//! frozen / initial value), the source file and key (one of the recorded candidates), and the
//! sha256 of the value `load` writes. Both run through the library's real requests
//! (`engine::plan::compute` on the case's config, target list and files — `.pt` through
//! torch-pt — and `engine::load::run` into a `.pt` or `.safetensors` output, alternating by
//! case, read back with torch-pt / safetensors). It exits non-zero on any disagreement.
//!
//! RF models on the TF engine (`backend = "tensorflow"`, `tools/torch-oracle/rf_tf_oracle.py`,
//! M cases, default N/4, in a second Python process: RETURNN selects its frontend backend
//! process-wide) are recorded and compared the same way, with TF checkpoints as files.
//! `--keep DIR` keeps the cases; `--expected DIR/expected.json` re-compares kept cases without
//! running Python (after a fix on the Rust side).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use engine::config::ConfigRequest;
use engine::load::LoadRequest;
use engine::plan::{ComputedPlan, PlanRequest};
use param_map::torch::TorchStatus;
use serde_json::Value;
use sha2::{Digest, Sha256};

struct Opts {
    cases: u32,
    rf_cases: Option<u32>,
    seed: u64,
    keep: Option<PathBuf>,
    expected: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        cases: 200,
        rf_cases: None,
        seed: 1,
        keep: None,
        expected: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| anyhow!("{a} needs a value"));
        match a.as_str() {
            "--cases" => o.cases = val()?.parse().context("--cases")?,
            "--rf-cases" => o.rf_cases = Some(val()?.parse().context("--rf-cases")?),
            "--seed" => o.seed = val()?.parse().context("--seed")?,
            "--keep" => o.keep = Some(PathBuf::from(val()?)),
            "--expected" => o.expected = Some(PathBuf::from(val()?)),
            other => bail!("torch-oracle: unknown argument {other:?}"),
        }
    }
    Ok(o)
}

/// `{'a', 'b'}` / `set()` -> the elements.
fn py_set_items(s: &str) -> BTreeSet<String> {
    let inner = s.trim().trim_start_matches('{').trim_end_matches('}');
    if s.trim() == "set()" || inner.is_empty() {
        return BTreeSet::new();
    }
    inner
        .split(", ")
        .map(|x| x.trim_matches('\'').to_string())
        .collect()
}

fn error_agrees(want: &str, ours: &str, kind: &str) -> bool {
    if ours == want || ours.starts_with(&format!("{want} (")) {
        return true;
    }
    let exc = |s: &str| s.split(':').next().unwrap_or_default().to_string();
    match kind {
        // CPython's set order depends on string hashing: the first line exactly, the sets as sets.
        "no_prefix_keys_in_state" => {
            let (w, o): (Vec<&str>, Vec<&str>) = (want.lines().collect(), ours.lines().collect());
            w.len() == 3
                && o.len() == 3
                && w[0] == o[0]
                && (1..3).all(|i| {
                    let (a, b) = (w[i].split_once(": "), o[i].split_once(": "));
                    match (a, b) {
                        (Some((x, ws)), Some((y, os))) => {
                            let os = os.rsplit_once(" (").map(|z| z.0).unwrap_or(os);
                            x == y && py_set_items(ws) == py_set_items(os)
                        }
                        _ => false,
                    }
                })
        }
        // TF's errors carry a Python traceback: the first line, and our other lines among its
        _ if want.starts_with("NotFoundError: ") || want.starts_with("InvalidArgumentError: ") => {
            let ours_lines: Vec<&str> = ours.lines().filter(|l| !l.trim().is_empty()).collect();
            let want_lines: BTreeSet<&str> = want.lines().map(str::trim).collect();
            let n = ours_lines.len();
            want.lines().next() == ours_lines.first().copied()
                && ours_lines.iter().enumerate().skip(1).all(|(i, l)| {
                    let l = if i + 1 == n {
                        l.rsplit_once(" (").map_or(*l, |x| x.0)
                    } else {
                        l
                    };
                    want_lines.contains(l.trim())
                })
        }
        // which of several buffers RETURNN names depends on set order
        "not_a_parameter" => exc(want) == exc(ours),
        // model selection (model-files) words RETURNN's bare assertions with more detail
        k if k.starts_with("load_")
            || k.starts_with("import_")
            || k.starts_with("start_epoch")
            || k.starts_with("eval_")
            || k == "no_get_model" =>
        {
            exc(want) == exc(ours)
        }
        _ => false,
    }
}

/// Compares one case; returns the list of disagreements, or `None` when returnn-ckpt reports
/// the case as unsupported for a reason it states (a Python callable in the config).
fn compare(case: &Value, index: usize) -> Result<Option<Vec<String>>> {
    let dir = PathBuf::from(case["dir"].as_str().unwrap_or_default());
    let exp = &case["expected"];
    let mut diffs = Vec::new();
    let req = PlanRequest {
        config: ConfigRequest::file(dir.join("returnn.config"), Vec::new(), dir.clone()),
        target: dir.join("target.json"),
        fresh: Some(false),
    };
    let res = engine::plan::compute(&req);
    if let Err(e) = &res {
        let text = std::fs::read_to_string(dir.join("returnn.config"))?;
        if e.label() == "unsupported" && text.contains("custom_missing_load_func") {
            return Ok(None);
        }
    }
    if let Some(err) = exp.get("error") {
        let ty = err["type"].as_str().unwrap_or_default();
        let msg = err["message"].as_str().unwrap_or_default();
        let want = if msg.is_empty() {
            ty.to_string()
        } else {
            format!("{ty}: {msg}")
        };
        match res {
            Ok(_) => diffs.push(format!(
                "RETURNN raised {want}\n    returnn-ckpt planned a load"
            )),
            Err(e) => {
                if !error_agrees(&want, e.message(), e.label()) {
                    diffs.push(format!(
                        "RETURNN raised:\n      {}\n    returnn-ckpt ({}):\n      {}",
                        want.replace('\n', "\n      "),
                        e.label(),
                        e.message().replace('\n', "\n      ")
                    ));
                }
                if e.outcome() != engine::Outcome::Negative {
                    diffs.push(format!(
                        "RETURNN raised, but returnn-ckpt's error ({}) says it could not answer (exit 2)",
                        e.label()
                    ));
                }
            }
        }
        return Ok(Some(diffs));
    }
    let cp = match res {
        Ok(cp) => cp,
        Err(e) => {
            diffs.push(format!(
                "RETURNN loaded fine, returnn-ckpt failed ({}): {}",
                e.label(),
                e.message()
            ));
            return Ok(Some(diffs));
        }
    };
    let report = engine::plan::report(&cp);
    let ComputedPlan::Torch(plan) = cp else {
        diffs.push("returnn-ckpt planned with the TF net-dict rules".into());
        return Ok(Some(diffs));
    };
    // The values: what `load` writes, read back from the file.
    let out = dir.join(if index % 2 == 0 {
        "returnn-ckpt-load.pt"
    } else {
        "returnn-ckpt-load.safetensors"
    });
    let written = engine::load::run(
        &LoadRequest {
            plan: req.clone(),
            out: out.clone(),
            force: true,
        },
        &engine::NoProgress,
    );
    let values: BTreeMap<String, String> = match &written {
        Ok(_) if plan.plan.loaded().next().is_none() => BTreeMap::new(),
        Ok(_) => read_back(&out).with_context(|| format!("reading back {}", out.display()))?,
        Err(e) => {
            diffs.push(format!("load failed ({}): {}", e.label(), e.message()));
            BTreeMap::new()
        }
    };
    if let Ok(r) = &written {
        if r.written != plan.plan.loaded().count() {
            diffs.push(format!(
                "load wrote {} tensors, the plan loads {}",
                r.written,
                plan.plan.loaded().count()
            ));
        }
    }
    let want_params = exp["params"].as_object().cloned().unwrap_or_default();
    for vp in &plan.plan.params {
        let name = &vp.param.name;
        let Some(w) = want_params.get(name) else {
            diffs.push(format!("{name}: not recorded by the driver"));
            continue;
        };
        let frozen = w["frozen"].as_bool().unwrap_or(false);
        let init = w["init"].as_bool().unwrap_or(false);
        let status = report.variables.get(name).map_or("absent", |v| v.status);
        if frozen != (status == "frozen") || (vp.status == TorchStatus::Frozen) != frozen {
            diffs.push(format!(
                "{name}: RETURNN frozen={frozen}, plan status {status}"
            ));
        }
        match &vp.source {
            None => {
                if !init {
                    diffs.push(format!(
                        "{name}: RETURNN loaded a value (candidates {}), plan says {status} ({:?})",
                        w["sources"], vp.reason
                    ));
                }
            }
            Some(a) => {
                let cand = format!("{}|{}", a.file, a.path.join("/"));
                let cands: Vec<&str> = w["sources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str())
                    .collect();
                if init {
                    diffs.push(format!(
                        "{name}: RETURNN kept the initial value, plan loads {cand} ({})",
                        a.entry
                    ));
                    continue;
                }
                if !cands.contains(&cand.as_str()) {
                    diffs.push(format!(
                        "{name}: plan loads {cand} (entry {}), RETURNN's value comes from {cands:?}",
                        a.entry
                    ));
                }
                if written.is_ok() {
                    match values.get(name) {
                        Some(h) if Some(h.as_str()) == w["sha256"].as_str() => {}
                        Some(h) => diffs.push(format!(
                            "{name}: value differs ({} -> {}): RETURNN sha256 {}, load wrote {h}",
                            a.source_dtype, a.dtype, w["sha256"]
                        )),
                        None => diffs.push(format!("{name}: not in the load output")),
                    }
                }
            }
        }
    }
    for name in want_params.keys() {
        if !plan.plan.params.iter().any(|p| &p.param.name == name) {
            diffs.push(format!("{name}: recorded by RETURNN, absent from the plan"));
        }
    }
    if !exp["epoch"].is_null() && exp["epoch"].as_u64() != plan.epoch {
        diffs.push(format!(
            "engine epoch: RETURNN {}, ours {:?}",
            exp["epoch"], plan.epoch
        ));
    }
    Ok(Some(diffs))
}

/// sha256 per tensor of a `load` output (`.pt` through torch-pt, or safetensors).
fn read_back(out: &Path) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    if out.extension().is_some_and(|e| e == "pt") {
        let f = torch_pt::PtFile::open(out)?;
        for t in f.state_dict()?.tensors {
            m.insert(t.name.clone(), hex::encode(f.digest(&t)?));
        }
    } else {
        let bytes = std::fs::read(out)?;
        let st = safetensors::SafeTensors::deserialize(&bytes)?;
        for (name, view) in st.tensors() {
            m.insert(name, hex::encode(Sha256::digest(view.data())));
        }
    }
    Ok(m)
}

pub fn run(root: &Path, python: &Path, args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let t0 = Instant::now();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    std::fs::create_dir_all(&target_dir)?;
    let tmp = tempfile::Builder::new()
        .prefix("torch-oracle-")
        .tempdir_in(&target_dir)?;
    let work = match &o.keep {
        Some(k) => {
            std::fs::create_dir_all(k)?;
            k.canonicalize()?
        }
        None => tmp.path().to_path_buf(),
    };
    let exp_path = match &o.expected {
        Some(p) => p.clone(),
        None => work.join("expected.json"),
    };
    let rf_cases = o.rf_cases.unwrap_or((o.cases / 4).max(1));
    let rf_exp_path = exp_path.with_file_name("expected_rf_tf.json");
    if o.expected.is_none() {
        // The two engines select RETURNN's frontend backend process-wide: two processes.
        for (script, n, out) in [
            ("tools/torch-oracle/torch_oracle.py", o.cases, &exp_path),
            ("tools/torch-oracle/rf_tf_oracle.py", rf_cases, &rf_exp_path),
        ] {
            let script = root.join(script);
            let st = Command::new(python)
                .arg(&script)
                .args(["--cases", &n.to_string(), "--seed", &o.seed.to_string()])
                .arg("--work")
                .arg(&work)
                .arg("--out")
                .arg(out)
                .env("TF_CPP_MIN_LOG_LEVEL", "3")
                .status()
                .with_context(|| format!("running {}", script.display()))?;
            if !st.success() {
                bail!("{} failed with {st}", script.display());
            }
        }
    }
    let exp: Value = serde_json::from_slice(&std::fs::read(&exp_path)?)?;
    let mut cases = exp["cases"].as_array().cloned().unwrap_or_default();
    if rf_exp_path.exists() {
        let rf: Value = serde_json::from_slice(&std::fs::read(&rf_exp_path)?)?;
        cases.extend(rf["cases"].as_array().cloned().unwrap_or_default());
    }
    let (mut agree, mut bad, mut errors, mut loaded, mut frozen) = (0, 0, 0, 0, 0);
    let mut unsupported = 0;
    let mut kinds: BTreeMap<String, u32> = BTreeMap::new();
    for case in &cases {
        let e = &case["expected"];
        if let Some(err) = e.get("error") {
            errors += 1;
            *kinds
                .entry(err["type"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        } else {
            for p in e["params"].as_object().into_iter().flatten().map(|x| x.1) {
                loaded += u32::from(!p["init"].as_bool().unwrap_or(true));
                frozen += u32::from(p["frozen"].as_bool().unwrap_or(false));
            }
        }
        let Some(diffs) = compare(case, (agree + bad + unsupported) as usize)? else {
            unsupported += 1;
            continue;
        };
        if diffs.is_empty() {
            agree += 1;
        } else {
            bad += 1;
            eprintln!(
                "DISAGREE {} ({})",
                case["dir"].as_str().unwrap_or_default(),
                case["desc"]
            );
            for d in diffs {
                eprintln!("  - {d}");
            }
        }
    }
    println!(
        "torch-oracle: {} cases (seed {}): {agree} agree, {bad} disagree, {unsupported} unsupported (custom_missing_load_func); RETURNN errors {errors} {kinds:?}, params loaded {loaded} (frozen {frozen}); {:.1}s",
        cases.len(),
        exp["seed"],
        t0.elapsed().as_secs_f64()
    );
    if bad > 0 {
        if o.keep.is_none() {
            let kept = tmp.keep();
            eprintln!("torch-oracle: cases kept in {}", kept.display());
        }
        bail!("{bad} of {} cases disagree with RETURNN", cases.len());
    }
    Ok(())
}
