//! `cargo xtask mapping-oracle [--cases N] [--seed S] [--keep DIR] [--expected FILE]`: differential oracle of
//! `returnn-ckpt plan`/`load` against real RETURNN's `CustomCheckpointLoader`.
//!
//! `tools/returnn-oracle/mapping/mapping_oracle.py` (run in the pinned venv, one Python process
//! for all cases) generates seeded random cases (source checkpoints written with TF, a target
//! variable list, a JSON config with `preload_from_files`) and records what RETURNN's engine
//! preload did: per variable loaded or not, by which entry, the sha256 of the value written,
//! the checkpoint keys each entry read, or the exception. This task then runs
//! `returnn-ckpt plan --json` and `load --out x.safetensors` on every case and compares:
//! error versus no error (and the error kind), per variable the status and entry, the sha256 of
//! each loaded value, and per entry the set of checkpoint keys read versus the keys the plan
//! names. It prints counts and exits non-zero on any disagreement.
//!
//! Cases cover preload entries (prefix, ignore_missing, ignore_params(_prefixes),
//! var_name_mapping, init_for_train, precedence between two entries), the automatic renames and
//! LSTM / batch-norm / CuDNN conversions, dtype conversion on assignment, shape errors, and an
//! `import_model_train_epoch1` main checkpoint (`TFNetwork.load_params_from_file`: TF
//! `Saver.restore`, falling back to the loader); targets as JSON or as a `.meta` MetaGraphDef.
//! `--keep DIR` keeps the cases; `--expected DIR/expected.json` re-compares kept cases without
//! running Python (after a fix on the Rust side).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};

struct Opts {
    cases: u32,
    seed: u64,
    keep: Option<PathBuf>,
    expected: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        cases: 200,
        seed: 1,
        keep: None,
        expected: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| anyhow!("{a} needs a value"));
        match a.as_str() {
            "--cases" => o.cases = val()?.parse().context("--cases")?,
            "--seed" => o.seed = val()?.parse().context("--seed")?,
            "--keep" => o.keep = Some(PathBuf::from(val()?)),
            "--expected" => o.expected = Some(PathBuf::from(val()?)),
            other => bail!("mapping-oracle: unknown argument {other:?}"),
        }
    }
    Ok(o)
}

/// RETURNN's exception -> the `kind` label `returnn-ckpt` must report.
fn expected_kind(ty: &str, msg: &str) -> &'static str {
    match ty {
        "AssertionError" if msg.contains("no saveable vars") => "no_saveable_vars",
        "AssertionError" if msg.contains("no vars to load") => "no_vars_to_load",
        "AssertionError" if msg.starts_with("did not expect") => "params_prefix_mismatch",
        "AssertionError" => "conversion_failed",
        "NotFoundError" if msg.contains("could_not_find_map_list") => "missing_vars",
        "NotFoundError" if msg.starts_with("Key ") => "key_not_found",
        "NotFoundError" if msg.starts_with("var ") => "missing_vars",
        "NotFoundError" => "checkpoint_not_found",
        "ValueError" if msg.contains("Cannot feed value of shape") => "shape_mismatch",
        // TF Saver.restore (main checkpoint)
        "InvalidArgumentError" if msg.contains("does not equal original dtype") => "dtype_mismatch",
        "InvalidArgumentError" => "shape_mismatch",
        // numpy inside a conversion (split, broadcast, reshape of inconsistent LSTM params)
        "ValueError" => "conversion_failed",
        "KeyError" => "non_critical_missing",
        _ => "?",
    }
}

/// sha256 per tensor of a safetensors file.
fn safetensors_digests(path: &Path) -> Result<BTreeMap<String, String>> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    let n = u64::from_le_bytes(
        bytes
            .get(..8)
            .ok_or_else(|| anyhow!("short file"))?
            .try_into()?,
    ) as usize;
    let header: Value =
        serde_json::from_slice(bytes.get(8..8 + n).ok_or_else(|| anyhow!("short header"))?)?;
    let data = &bytes[8 + n..];
    let mut out = BTreeMap::new();
    for (name, info) in header.as_object().ok_or_else(|| anyhow!("bad header"))? {
        if name == "__metadata__" {
            continue;
        }
        let off = &info["data_offsets"];
        let (a, b) = (
            off[0].as_u64().unwrap_or(0) as usize,
            off[1].as_u64().unwrap_or(0) as usize,
        );
        let slice = data
            .get(a..b)
            .ok_or_else(|| anyhow!("{name}: bad offsets"))?;
        out.insert(name.clone(), hex::encode(Sha256::digest(slice)));
    }
    Ok(out)
}

fn run_cli(bin: &Path, dir: &Path, args: &[&str]) -> Result<(Option<i32>, Value, String)> {
    let out = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let v = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    Ok((out.status.code(), v, format!("{stdout}{stderr}")))
}

/// Compares one case; returns the list of disagreements.
fn compare(bin: &Path, case: &Value) -> Result<Vec<String>> {
    let dir = PathBuf::from(case["dir"].as_str().unwrap_or_default());
    let target = case["target"].as_str().unwrap_or("target.json");
    let exp = &case["expected"];
    let mut diffs = Vec::new();
    // entry -> checkpoint file, as the config names it
    let config: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json"))?)?;
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for (k, o) in config["preload_from_files"]
        .as_object()
        .into_iter()
        .flatten()
    {
        files.insert(k.clone(), o["filename"].as_str().unwrap_or_default().into());
    }
    if let Some(f) = config["import_model_train_epoch1"].as_str() {
        files.insert("load".into(), f.into());
    }
    // load_on_init entries (net-dict cases): the Python side names their files
    for (k, f) in case["entry_files"].as_object().into_iter().flatten() {
        files.insert(k.clone(), f.as_str().unwrap_or_default().into());
    }
    let (code, plan, raw) = run_cli(
        bin,
        &dir,
        &["plan", "config.json", "--target", target, "--json"],
    )?;
    if let Some(err) = exp.get("error") {
        let ty = err["type"].as_str().unwrap_or_default();
        let full = err["message"].as_str().unwrap_or_default();
        let want = expected_kind(ty, full);
        let msg: String = full
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(600)
            .collect();
        let msg = msg.as_str();
        if code != Some(1) || plan.get("error").is_none() {
            diffs.push(format!(
                "RETURNN raised {ty}: {msg}\n    returnn-ckpt did not (exit {code:?}): {}",
                raw.chars().take(1500).collect::<String>()
            ));
            return Ok(diffs);
        }
        // the error document: {"error": {"kind", "message", ...}}
        let kind = plan["error"]["kind"].as_str().unwrap_or_default();
        let our_msg = plan["error"]["message"].as_str().unwrap_or_default();
        if kind != want {
            diffs.push(format!(
                "RETURNN raised {ty}: {msg}\n    returnn-ckpt: kind {kind} (want {want}): {our_msg}"
            ));
        } else if want == "missing_vars" {
            // the same list of unresolved names
            let list = msg.split_once(": ").map(|x| x.1).unwrap_or(msg);
            if !our_msg.contains(list) {
                diffs.push(format!(
                    "RETURNN raised {ty}: {msg}\n    returnn-ckpt lists other names: {our_msg}"
                ));
            }
        }
        return Ok(diffs);
    }
    if code != Some(0) || plan.get("variables").is_none() {
        diffs.push(format!(
            "RETURNN loaded fine, returnn-ckpt plan failed (exit {code:?}): {}",
            raw.chars().take(1500).collect::<String>()
        ));
        return Ok(diffs);
    }
    let loaded = exp["loaded"].as_object().cloned().unwrap_or_default();
    let vars = plan["variables"].as_object().cloned().unwrap_or_default();
    let mut our_keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, p) in &vars {
        let status = p["status"].as_str().unwrap_or_default();
        match loaded.get(name) {
            Some(l) => {
                if status != "loaded" {
                    diffs.push(format!(
                        "{name}: RETURNN loaded it (entry {}), plan says {status}: {p}",
                        l["entry"]
                    ));
                } else if p["entry"] != l["entry"] {
                    diffs.push(format!(
                        "{name}: RETURNN loaded it from entry {}, plan from {}",
                        l["entry"], p["entry"]
                    ));
                } else if p["file"].as_str()
                    != l["entry"]
                        .as_str()
                        .and_then(|e| files.get(e))
                        .map(String::as_str)
                {
                    diffs.push(format!(
                        "{name}: plan names file {} for entry {}",
                        p["file"], l["entry"]
                    ));
                }
            }
            None => {
                if status == "loaded" {
                    diffs.push(format!("{name}: RETURNN did not load it, plan does: {p}"));
                }
            }
        }
        if status == "loaded" {
            let e = p["entry"].as_str().unwrap_or_default().to_string();
            for k in p["keys"].as_array().into_iter().flatten() {
                our_keys
                    .entry(e.clone())
                    .or_default()
                    .insert(k.as_str().unwrap_or_default().to_string());
            }
        }
    }
    for name in loaded.keys() {
        if !vars.contains_key(name) {
            diffs.push(format!("{name}: loaded by RETURNN, absent from the plan"));
        }
    }
    for (entry, keys) in exp["keys_read"].as_object().into_iter().flatten() {
        let want: BTreeSet<String> = keys
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        let got = our_keys.remove(entry).unwrap_or_default();
        if want != got {
            diffs.push(format!(
                "entry {entry}: RETURNN read keys {want:?}, the plan names {got:?}"
            ));
        }
    }
    for (entry, got) in our_keys {
        diffs.push(format!(
            "entry {entry}: RETURNN read nothing, the plan names {got:?}"
        ));
    }
    if !diffs.is_empty() {
        return Ok(diffs);
    }
    // Values.
    let out = dir.join("ours.safetensors");
    let _ = std::fs::remove_file(&out);
    let (code, _, raw) = run_cli(
        bin,
        &dir,
        &[
            "load",
            "config.json",
            "--target",
            target,
            "--out",
            "ours.safetensors",
        ],
    )?;
    if code != Some(0) {
        diffs.push(format!(
            "load failed (exit {code:?}): {}",
            raw.chars().take(1500).collect::<String>()
        ));
        return Ok(diffs);
    }
    let got = if loaded.is_empty() && !out.exists() {
        BTreeMap::new()
    } else {
        safetensors_digests(&out)?
    };
    for (name, l) in &loaded {
        let want = l["sha256"].as_str().unwrap_or_default();
        match got.get(name) {
            Some(h) if h == want => {}
            Some(h) => diffs.push(format!(
                "{name}: value differs: RETURNN sha256 {want}, ours {h}"
            )),
            None => diffs.push(format!("{name}: not written by load")),
        }
    }
    for name in got.keys() {
        if !loaded.contains_key(name) {
            diffs.push(format!("{name}: written by load, not loaded by RETURNN"));
        }
    }
    Ok(diffs)
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
        .prefix("mapping-oracle-")
        .tempdir_in(&target_dir)?;
    let work = match &o.keep {
        Some(k) => {
            std::fs::create_dir_all(k)?;
            k.clone()
        }
        None => tmp.path().to_path_buf(),
    };
    let exp_path = match &o.expected {
        Some(p) => p.clone(),
        None => work.join("expected.json"),
    };
    let script = root.join("tools/returnn-oracle/mapping/mapping_oracle.py");
    let st = if o.expected.is_some() {
        // re-compare recorded cases (their directories must still exist)
        std::process::ExitStatus::default()
    } else {
        Command::new(python)
            .arg(&script)
            .args([
                "--cases",
                &o.cases.to_string(),
                "--seed",
                &o.seed.to_string(),
            ])
            .arg("--work")
            .arg(&work)
            .arg("--out")
            .arg(&exp_path)
            .status()
            .with_context(|| format!("running {}", script.display()))?
    };
    if !st.success() {
        bail!("{} failed with {st}", script.display());
    }
    let exp: Value = serde_json::from_slice(&std::fs::read(&exp_path)?)?;
    let cases = exp["cases"].as_array().cloned().unwrap_or_default();
    let (mut agree, mut bad, mut errors, mut loads) = (0, 0, 0, 0);
    let mut kinds: BTreeMap<String, u32> = BTreeMap::new();
    for case in &cases {
        let e = &case["expected"];
        if let Some(err) = e.get("error") {
            errors += 1;
            *kinds
                .entry(
                    expected_kind(
                        err["type"].as_str().unwrap_or_default(),
                        err["message"].as_str().unwrap_or_default(),
                    )
                    .to_string(),
                )
                .or_default() += 1;
        } else {
            loads += e["loaded"].as_object().map_or(0, |m| m.len());
        }
        let diffs = compare(&bin, case)?;
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
        "mapping-oracle: {} cases (seed {}): {agree} agree, {bad} disagree; RETURNN errors {errors} {kinds:?}, variables loaded {loads}; {:.1}s",
        cases.len(),
        exp["seed"],
        t0.elapsed().as_secs_f64()
    );
    if bad > 0 {
        if o.keep.is_none() {
            let kept = tmp.keep();
            eprintln!("mapping-oracle: cases kept in {}", kept.display());
        }
        bail!("{bad} of {} cases disagree with RETURNN", cases.len());
    }
    Ok(())
}
