//! `cargo xtask wild [DIR]`: reads every checkpoint listed in the corpus of real-world
//! checkpoints (`DIR/cases.txt`, lines `NAME PATH`; DIR from the argument, else the env var
//! `RETURNN_CKPT_WILD`; the corpus lives outside the repository) with our reader
//! and with TensorFlow's (`tools/wild/tf_read.py` in the pinned venv), and compares every
//! tensor: the listed names, dtypes, shapes, and values by sha256 (or that both fail to read
//! it). The corpus is never copied into the repository and no `cargo test` needs it: without
//! it, the task says so and succeeds. Prints a summary table; fails on any disagreement.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tf_bundle::Checkpoint;

/// What our reader says about one tensor: (dtype, shape, sha256 or read error).
type Ours = (String, Vec<u64>, Result<String, String>);

fn ours(ck: &Checkpoint) -> BTreeMap<String, Ours> {
    let mut out = BTreeMap::new();
    for t in ck.tensors() {
        let d = tf_bundle::digest::digest_tensor(ck, &t.name)
            .map(|d| tf_bundle::digest::hex(&d))
            .map_err(|e| e.to_string());
        out.insert(
            t.name.clone(),
            (t.dtype.name().to_string(), t.shape.clone(), d),
        );
    }
    for o in ck.opaque() {
        let checked = ck
            .check_opaque(&o.name)
            .map(|_| String::new())
            .map_err(|e| e.to_string());
        out.insert(
            o.name.clone(),
            (o.dtype.to_string(), o.shape.clone(), checked),
        );
    }
    for p in ck.problems() {
        out.insert(
            p.name.clone(),
            ("?".into(), Vec::new(), Err(p.error.to_string())),
        );
    }
    out
}

pub fn run(root: &Path, python: &Path, args: &[String]) -> Result<()> {
    let dir = match args {
        [] => match std::env::var_os("RETURNN_CKPT_WILD") {
            Some(d) => PathBuf::from(d),
            None => {
                eprintln!(
                    "xtask wild: no corpus given (pass DIR or set RETURNN_CKPT_WILD): skipped"
                );
                return Ok(());
            }
        },
        [d] => PathBuf::from(d),
        _ => bail!("usage: cargo xtask wild [DIR]"),
    };
    let cases_txt = dir.join("cases.txt");
    if !cases_txt.is_file() {
        eprintln!(
            "xtask wild: no corpus at {} (no cases.txt): skipped. Give the directory as an argument or in RETURNN_CKPT_WILD.",
            dir.display()
        );
        return Ok(());
    }
    let t0 = Instant::now();
    let tmp = tempfile::Builder::new()
        .prefix("wild-")
        .tempdir_in(root.join("target"))?;
    let out = tmp.path().join("tf.json");
    super::run(
        Command::new(python)
            .arg(root.join("tools/wild/tf_read.py"))
            .arg(&cases_txt)
            .arg(&dir)
            .arg(&out),
    )
    .context("TensorFlow's side (tools/wild/tf_read.py)")?;
    let tf: Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    let cases = tf["cases"].as_array().context("tf.json: no cases")?;
    let (mut n_ck, mut n_t, mut agree, mut disagree) = (0usize, 0usize, 0usize, 0usize);
    let mut lines = Vec::new();
    let mut report = |case: &str, what: String| {
        lines.push(format!("  {case}: {what}"));
    };
    println!(
        "{:<36} {:>8} {:>8} {:>8}",
        "checkpoint", "tensors", "agree", "disagree"
    );
    for c in cases {
        let name = c["name"].as_str().unwrap_or("?");
        let path = dir.join(c["path"].as_str().unwrap_or(""));
        n_ck += 1;
        let (mut a, mut d, mut n) = (0usize, 0usize, 0usize);
        let opened = Checkpoint::open(&path);
        match (opened, c.get("error")) {
            (Err(e), Some(te)) => {
                a += 1;
                report(name, format!("both fail to open (ours: {e}; TF: {te})"));
            }
            (Err(e), None) => {
                d += 1;
                report(name, format!("DISAGREE: TF opens it, we fail: {e}"));
            }
            (Ok(_), Some(te)) => {
                d += 1;
                report(name, format!("DISAGREE: TF fails ({te}), we open it"));
            }
            (Ok(ck), None) => {
                let ours = ours(&ck);
                let theirs = c["tensors"].as_object().cloned().unwrap_or_default();
                for k in ours.keys().filter(|k| !theirs.contains_key(*k)) {
                    d += 1;
                    report(name, format!("DISAGREE: {k:?} listed by us, not by TF"));
                }
                for (k, t) in &theirs {
                    n += 1;
                    let Some((dt, shape, val)) = ours.get(k) else {
                        d += 1;
                        report(name, format!("DISAGREE: {k:?} listed by TF, not by us"));
                        continue;
                    };
                    let tshape: Vec<u64> = t["shape"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_u64).collect())
                        .unwrap_or_default();
                    let mut bad = Vec::new();
                    if t["dtype"].as_str() != Some(dt) {
                        bad.push(format!("dtype TF {} ours {dt}", t["dtype"]));
                    }
                    if &tshape != shape {
                        bad.push(format!("shape TF {tshape:?} ours {shape:?}"));
                    }
                    match (val, t.get("sha256").and_then(Value::as_str), t.get("error")) {
                        (Ok(s), Some(ts), _) if s == ts => {}
                        (Ok(s), None, None) if s.is_empty() => {} // variant: checked, not decoded
                        (Err(_), None, Some(_)) => {}             // both fail to read it
                        (v, ts, te) => {
                            bad.push(format!("value: ours {v:?}, TF sha256 {ts:?} error {te:?}"))
                        }
                    }
                    if bad.is_empty() {
                        a += 1;
                    } else {
                        d += 1;
                        report(name, format!("DISAGREE: {k:?}: {}", bad.join("; ")));
                    }
                }
            }
        }
        println!("{name:<36} {n:>8} {a:>8} {d:>8}");
        n_t += n;
        agree += a;
        disagree += d;
    }
    println!(
        "{:<36} {n_t:>8} {agree:>8} {disagree:>8}   ({n_ck} checkpoints, {:.1}s)",
        "total",
        t0.elapsed().as_secs_f64()
    );
    let shown: Vec<&String> = lines.iter().filter(|l| l.contains("DISAGREE")).collect();
    for l in shown.iter().take(40) {
        println!("{l}");
    }
    if disagree > 0 {
        bail!("wild: {disagree} disagreement(s) with TensorFlow's reader");
    }
    Ok(())
}
