//! `cargo xtask port-oracle [--cases N] [--seed S] [--keep DIR]`: end-to-end oracle of the
//! `port` command (issue 14) against real RETURNN and torch.
//!
//! 1. `tools/port-oracle/port_oracle.py gen` (one Python process, the pinned venv): real
//!    RETURNN (TF net-dict engine, TF 2.21) builds random networks from the supported layers,
//!    sets random parameters (random running statistics for batch norm), runs them on random
//!    input and saves the checkpoint, the config's network dict, the input and every layer's
//!    output; it also builds the equivalent RF model (RETURNN frontend, torch backend) or plain
//!    torch model and saves its state dict as the target, in turn as a `.pt` (`torch.save`), a
//!    `.safetensors` file or a JSON list. Plus the fixture case `returnn_train_nativelstm`
//!    with `examples/port-nativelstm`.
//! 2. Here, through the real command (the debug `returnn-ckpt` binary, `--json`): per case
//!    `port --suggest` (network dict + target) writes the rules, which must plan without
//!    issues; `port --rules ... --target ... --out ported.pt` (some cases with `--epoch` /
//!    `--step`) writes RETURNN's PyTorch checkpoint; the plan's explicit `[[var]]` form
//!    (`explicit.toml`, no network dict) must plan the same parameters. For the fixture the
//!    example's `rules.toml` is ported, and `--suggest` must give the same mapping.
//! 3. `port_oracle.py check`: RETURNN's PyTorch engine loads each `ported.pt`
//!    (`Engine._load_model` with `load` = the file; for the fixture the example's
//!    `forward.config`), must read the written epoch and step and find exactly the module's
//!    keys; the model then runs the same input, and every layer's output must agree with TF's
//!    to 1e-5 relative.
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

/// Runs `returnn-ckpt ARGS --json`; returns the exit code and the one JSON document.
fn cli(bin: &Path, args: &[String]) -> Result<(i32, Value)> {
    let out = Command::new(bin)
        .args(args)
        .arg("--json")
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    let code = out.status.code().unwrap_or(-1);
    let doc: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "returnn-ckpt {}: exit {code}, not one JSON document on stdout: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok((code, doc))
}

/// What went wrong in a command's document: the plan's issues or the error.
fn problems(code: i32, doc: &Value) -> Vec<String> {
    if let Some(e) = doc.get("error") {
        return vec![format!(
            "exit {code}: [{}] {}",
            e["kind"].as_str().unwrap_or_default(),
            e["message"].as_str().unwrap_or_default()
        )];
    }
    let mut v: Vec<String> = doc["issues"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            format!(
                "[{}] {}",
                i["kind"].as_str().unwrap_or_default(),
                i["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    if v.is_empty() {
        v.push(format!("exit {code}"));
    }
    v
}

type ParamKey = Vec<(
    String,
    Vec<port::TensorSpec>,
    Vec<port::Op>,
    String,
    Vec<u64>,
)>;

fn param_key(plan: &port::PortPlan) -> ParamKey {
    plan.params
        .iter()
        .map(|x| {
            (
                x.target.clone(),
                x.inputs.clone(),
                x.transforms.clone(),
                x.dtype.name().to_string(),
                x.shape.clone(),
            )
        })
        .collect()
}

fn plan_of(doc: &Value) -> Result<port::PortPlan> {
    serde_json::from_value(doc.clone()).context("the report is not a plan document")
}

/// Ports one case with the real command into `<dir>/ported.pt` (report: `ported.json`);
/// returns what went wrong (empty = ok).
fn port_case(bin: &Path, case: &Value) -> Result<Vec<String>> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let dir = PathBuf::from(s(&case["dir"]));
    let fixture = case["fixture"].as_bool().unwrap_or(false);
    let config = if fixture {
        Some(s(&case["config"]))
    } else {
        Some(dir.join("config.json"))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
    };
    let ckpt = if fixture {
        s(&case["checkpoint"])
    } else {
        dir.join("model").display().to_string()
    };
    let target = s(&case["target"]);
    let with_config = |mut a: Vec<String>| {
        if let Some(c) = &config {
            a.extend(["--config".into(), c.clone()]);
        }
        a
    };
    // 1. the rules: `port --suggest` with the network dict and the target
    let suggested = dir.join("rules.toml").display().to_string();
    let (code, doc) = cli(
        bin,
        &with_config(vec![
            "port".into(),
            ckpt.clone(),
            "--target".into(),
            target.clone(),
            "--suggest".into(),
            "--out".into(),
            suggested.clone(),
            "--force".into(),
        ]),
    )?;
    if code != 0 || doc["ok"] != Value::Bool(true) {
        let mut p = problems(code, &doc);
        p.insert(
            0,
            "port --suggest: the suggested rules do not port it".into(),
        );
        return Ok(p);
    }
    let rules = if fixture {
        s(&case["rules"])
    } else {
        suggested.clone()
    };
    // 2. the port, into a .pt
    let out = dir.join("ported.pt").display().to_string();
    let mut args = with_config(vec![
        "port".into(),
        ckpt.clone(),
        "--rules".into(),
        rules,
        "--target".into(),
        target.clone(),
        "--out".into(),
        out,
        "--force".into(),
    ]);
    if let Some([e, st]) = case["epoch_step"]
        .as_array()
        .map(|a| [a[0].clone(), a[1].clone()])
    {
        args.extend([
            "--epoch".into(),
            e.to_string(),
            "--step".into(),
            st.to_string(),
        ]);
    }
    let (code, doc) = cli(bin, &args)?;
    std::fs::write(dir.join("ported.json"), serde_json::to_string_pretty(&doc)?)?;
    if code != 0 || doc["ok"] != Value::Bool(true) || !doc["written"].is_object() {
        return Ok(problems(code, &doc));
    }
    let plan = plan_of(&doc)?;
    if fixture {
        // the example's rules file and `--suggest` give the same mapping
        let (code, sdoc) = cli(
            bin,
            &with_config(vec![
                "port".into(),
                ckpt.clone(),
                "--rules".into(),
                suggested,
                "--target".into(),
                target.clone(),
            ]),
        )?;
        if code != 0 || param_key(&plan_of(&sdoc)?) != param_key(&plan) {
            return Ok(vec![
                "the suggested rules map the fixture differently from the example's rules.toml"
                    .into(),
            ]);
        }
    }
    // 3. the same plan as explicit [[var]] rules (TOML round trip), without the network dict
    let explicit = plan.to_explicit_rules();
    let etext = explicit.to_toml().map_err(|e| anyhow!("{e}"))?;
    let epath = dir.join("explicit.toml");
    std::fs::write(&epath, &etext)?;
    let (code, edoc) = cli(
        bin,
        &[
            "port".into(),
            ckpt,
            "--rules".into(),
            epath.display().to_string(),
            "--target".into(),
            target,
        ],
    )?;
    if code != 0 || param_key(&plan_of(&edoc)?) != param_key(&plan) {
        let mut p = problems(code, &edoc);
        p.insert(
            0,
            "the explicit [[var]] rules (explicit.toml) plan differently".into(),
        );
        return Ok(p);
    }
    Ok(vec![])
}

pub fn run(root: &Path, python: &Path, args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let t0 = Instant::now();
    let st = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args(["build", "-q", "-p", "returnn-ckpt"])
        .status()
        .context("cargo build -p returnn-ckpt")?;
    if !st.success() {
        bail!("cargo build -p returnn-ckpt failed");
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target_dir.join("debug/returnn-ckpt");
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
        match port_case(&bin, case) {
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
