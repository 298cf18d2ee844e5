//! `cargo xtask port-oracle [--cases N] [--seed S] [--keep DIR]`: end-to-end oracle of the
//! `port` crate against real RETURNN and torch.
//!
//! 1. `tools/port-oracle/port_oracle.py gen` (one Python process, the pinned venv): real
//!    RETURNN (TF net-dict engine, TF 2.21) builds random networks from the supported layers,
//!    sets random parameters (random running statistics for batch norm), runs them on random
//!    input and saves the checkpoint, the config's network dict, the input and every layer's
//!    output; it also builds the equivalent RF model (RETURNN frontend, torch backend) or plain
//!    torch model and writes its state-dict list as the target list. Plus the fixture case
//!    `returnn_train_nativelstm` with `examples/port-nativelstm`.
//! 2. Here, in process: per case the rules come from `port::suggest` (network dict + target
//!    list; for the fixture: the example rules file), `port::plan` must be `ok` against the
//!    target list, and every planned parameter is computed and written with
//!    `convert::SafetensorsWriter`.
//! 3. `port_oracle.py check`: each model loads the safetensors with strict `load_state_dict`,
//!    runs the same input; every layer's output must agree with TF's to 1e-5 relative.
//!
//! Prints counts and the largest difference; exits non-zero on any disagreement.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

struct Opts {
    cases: u32,
    seed: u64,
    keep: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        cases: 50,
        seed: 1,
        keep: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| anyhow!("{a} needs a value"));
        match a.as_str() {
            "--cases" => o.cases = val()?.parse().context("--cases")?,
            "--seed" => o.seed = val()?.parse().context("--seed")?,
            "--keep" => o.keep = Some(PathBuf::from(val()?)),
            other => bail!("port-oracle: unknown argument {other:?}"),
        }
    }
    Ok(o)
}

fn read_targets(path: &Path) -> Result<Vec<port::TensorSpec>> {
    let v: Value =
        serde_json::from_slice(&std::fs::read(path).with_context(|| path.display().to_string())?)?;
    let list = v["variables"].clone();
    serde_json::from_value(list).with_context(|| format!("{}: target list", path.display()))
}

/// Ports one case into `<dir>/ported.safetensors`; returns the plan's issues (empty = ok).
fn port_case(case: &Value) -> Result<Vec<String>> {
    let dir = PathBuf::from(case["dir"].as_str().unwrap_or_default());
    let fixture = case["fixture"].as_bool().unwrap_or(false);
    let config_path = if fixture {
        Some(PathBuf::from(case["config"].as_str().unwrap_or_default()))
    } else {
        Some(dir.join("config.json")).filter(|p| p.exists())
    };
    let net = match &config_path {
        Some(p) => {
            let cfg =
                returnn_config::Config::load(p).map_err(|e| anyhow!("{}: {e}", p.display()))?;
            Some(
                port::NetworkDict::from_config(&cfg)
                    .map_err(|e| anyhow!("{}: {e}", p.display()))?,
            )
        }
        None => None,
    };
    let ckpt_path = if fixture {
        PathBuf::from(case["checkpoint"].as_str().unwrap_or_default())
    } else {
        dir.join("model")
    };
    let ckpt = tf_bundle::Checkpoint::open(&ckpt_path)
        .map_err(|e| anyhow!("{}: {e}", ckpt_path.display()))?;
    let sources = port::plan::checkpoint_specs(&ckpt);
    let targets = read_targets(&dir.join("target.json"))?;
    let text = if fixture {
        let p = PathBuf::from(case["rules"].as_str().unwrap_or_default());
        std::fs::read_to_string(&p).with_context(|| p.display().to_string())?
    } else {
        port::suggest(
            net.as_ref(),
            &sources,
            Some(&targets),
            &port::SuggestOptions::default(),
        )
        .map_err(|e| anyhow!("suggest: {e}"))?
    };
    std::fs::write(dir.join("rules.toml"), &text)?;
    let rules = port::Rules::from_toml(&text, "rules.toml").map_err(|e| anyhow!("{e}"))?;
    let plan = port::plan(&rules, net.as_ref(), &sources, Some(&targets))
        .map_err(|e| anyhow!("plan: {e}"))?;
    std::fs::write(dir.join("plan.json"), serde_json::to_string_pretty(&plan)?)?;
    if !plan.ok {
        return Ok(plan
            .issues
            .iter()
            .map(|i| format!("{}: {}", i.kind.label(), i.message))
            .collect());
    }
    // the same plan as explicit [[var]] rules (TOML round trip), without the network dict
    let explicit = plan.to_explicit_rules();
    let etext = explicit.to_toml().map_err(|e| anyhow!("{e}"))?;
    std::fs::write(dir.join("explicit.toml"), &etext)?;
    let erules = port::Rules::from_toml(&etext, "explicit.toml").map_err(|e| anyhow!("{e}"))?;
    let eplan = port::plan(&erules, None, &sources, Some(&targets)).map_err(|e| anyhow!("{e}"))?;
    let key = |p: &port::PortPlan| {
        p.params
            .iter()
            .map(|x| {
                (
                    x.target.clone(),
                    x.inputs.clone(),
                    x.transforms.clone(),
                    x.dtype,
                    x.shape.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    if !eplan.ok || key(&eplan) != key(&plan) {
        return Ok(vec![format!(
            "the explicit [[var]] rules (explicit.toml) plan differently: ok {}, {:?}",
            eplan.ok,
            eplan.issues.iter().map(|i| &i.message).collect::<Vec<_>>()
        )]);
    }
    let decl = plan
        .params
        .iter()
        .map(|p| (p.target.clone(), p.dtype, p.shape.clone()))
        .collect();
    let out = dir.join("ported.safetensors");
    let mut w = convert::SafetensorsWriter::create(&out, decl, BTreeMap::new())
        .map_err(|e| anyhow!("{}: {e}", out.display()))?;
    for p in &plan.params {
        let a = p.compute(&ckpt).map_err(|e| anyhow!("{e}"))?;
        w.write_next(&p.target, &a.data)
            .map_err(|e| anyhow!("{e}"))?;
    }
    w.finish().map_err(|e| anyhow!("{e}"))?;
    Ok(vec![])
}

pub fn run(root: &Path, python: &Path, args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let t0 = Instant::now();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let tmp = tempfile::Builder::new()
        .prefix("port-oracle-")
        .tempdir_in(&target_dir)?;
    let work = match &o.keep {
        Some(k) => {
            std::fs::create_dir_all(k)?;
            k.clone()
        }
        None => tmp.path().to_path_buf(),
    };
    let script = root.join("tools/port-oracle/port_oracle.py");
    let py = |step: &str, extra: &[String]| -> Result<()> {
        let st = Command::new(python)
            .arg(&script)
            .arg(step)
            .args(extra)
            .arg("--work")
            .arg(&work)
            .arg("--root")
            .arg(root)
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        if !st.success() {
            bail!("{} {step} failed with {st}", script.display());
        }
        Ok(())
    };
    py(
        "gen",
        &[
            "--cases".into(),
            o.cases.to_string(),
            "--seed".into(),
            o.seed.to_string(),
        ],
    )?;
    let cases: Value = serde_json::from_slice(&std::fs::read(work.join("cases.json"))?)?;
    let cases = cases["cases"].as_array().cloned().unwrap_or_default();
    let mut bad = 0usize;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for case in &cases {
        for l in case["layers"].as_array().into_iter().flatten() {
            let k = match (l["kind"].as_str(), l["unit"].as_str()) {
                (Some("lstm"), Some(u)) => format!("lstm:{u}"),
                (Some("batch_norm"), _) => format!("batch_norm:v{}", l["param_version"]),
                (Some(k), _) => k.to_string(),
                (None, _) => "fixture".to_string(),
            };
            *kinds.entry(k).or_default() += 1;
            if l["bn"].is_object() {
                *kinds
                    .entry(format!("linear+batch_norm:v{}", l["bn"]["param_version"]))
                    .or_default() += 1;
            }
        }
        match port_case(case) {
            Ok(issues) if issues.is_empty() => {}
            Ok(issues) => {
                bad += 1;
                eprintln!("PLAN NOT OK {}", case["dir"].as_str().unwrap_or_default());
                for i in issues {
                    eprintln!("  - {i}");
                }
            }
            Err(e) => {
                bad += 1;
                eprintln!(
                    "PORT FAILED {}: {e:#}",
                    case["dir"].as_str().unwrap_or_default()
                );
            }
        }
    }
    py("check", &[])?;
    let results: Value = serde_json::from_slice(&std::fs::read(work.join("results.json"))?)?;
    let mut worst = 0.0f64;
    let mut disagree = 0usize;
    for r in results["results"].as_array().into_iter().flatten() {
        if let Some(m) = r["max_rel"].as_f64() {
            worst = worst.max(m);
        }
        if r["ok"].as_bool() != Some(true) {
            disagree += 1;
            eprintln!(
                "DISAGREE {}: {}",
                r["dir"].as_str().unwrap_or_default(),
                r.get("error")
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| r["layers"].to_string())
            );
        }
    }
    println!(
        "port-oracle: {} cases (seed {}): {} plan/port failures, {} output disagreements; largest relative difference {worst:.2e}; layers {kinds:?}; {:.1}s",
        cases.len(),
        o.seed,
        bad,
        disagree,
        t0.elapsed().as_secs_f64()
    );
    if bad + disagree > 0 {
        if o.keep.is_none() {
            let kept = tmp.keep();
            eprintln!("port-oracle: cases kept in {}", kept.display());
        }
        bail!("{} of {} cases fail", bad + disagree, cases.len());
    }
    Ok(())
}
