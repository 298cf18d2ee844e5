//! `cargo xtask returnn-oracle [--cases N] [--seed S] [--keep] [--show K]`: differential oracle
//! of `returnn-ckpt resolve` / `path` against the real RETURNN in the pinned venv.
//!
//! `tools/returnn-oracle/oracle.py` generates seeded scenarios (checkpoint-like files on disk,
//! a config in one of RETURNN's three forms, `++key value` overrides), runs RETURNN on each in
//! one Python process and writes `cases.json` (decision or exception per case; see the
//! script's doc for exactly which RETURNN layers it drives). This task then runs
//! `returnn-ckpt resolve --json -C CASE_DIR CONFIG OVERRIDES...` and `returnn-ckpt path --json
//! QUERIES...` (in CASE_DIR) and compares: epoch, model path, start epoch, existing models,
//! notes; for errors, the Python exception type against the prefix of our message
//! (`AssertionError: ...`). Prints counts and the first disagreements; fails on any.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::Value;

struct Opts {
    cases: u32,
    seed: u64,
    keep: bool,
    show: usize,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        cases: 500,
        seed: 1,
        keep: false,
        show: 8,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cases" => o.cases = it.next().context("--cases needs N")?.parse()?,
            "--seed" => o.seed = it.next().context("--seed needs S")?.parse()?,
            "--show" => o.show = it.next().context("--show needs K")?.parse()?,
            "--keep" => o.keep = true,
            other => bail!(
                "unknown argument {other:?} (returnn-oracle [--cases N] [--seed S] [--keep] [--show K])"
            ),
        }
    }
    Ok(o)
}

pub fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let root = super::root();
    let venv = super::ensure_venv()?;
    let t0 = Instant::now();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    super::run(Command::new(cargo).current_dir(&root).args([
        "build",
        "--quiet",
        "-p",
        "returnn-ckpt",
        "--bin",
        "returnn-ckpt",
    ]))
    .context("building returnn-ckpt")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug/returnn-ckpt");
    let tmp = tempfile::Builder::new()
        .prefix("returnn-oracle-")
        .tempdir_in(root.join("target"))?;
    let work = tmp.path().to_path_buf();
    super::run(
        Command::new(&venv.python)
            .arg(root.join("tools/returnn-oracle/oracle.py"))
            .arg("--workdir")
            .arg(&work)
            .args([
                "--cases",
                &o.cases.to_string(),
                "--seed",
                &o.seed.to_string(),
            ]),
    )
    .context("running RETURNN on the generated cases")?;
    let t_py = t0.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(work.join("cases.json"))?;
    let doc: Value = serde_json::from_str(&text)?;
    let cases = doc["cases"].as_array().context("cases.json: no cases")?;

    let mut stats = Stats::default();
    let mut shown = Vec::new();
    for case in cases {
        let dir = PathBuf::from(case["dir"].as_str().context("case dir")?);
        let diffs = check_case(&bin, &dir, case)?;
        stats.count(case, &diffs);
        if !diffs.is_empty() && shown.len() < o.show {
            shown.push(describe(&dir, case, &diffs));
        }
    }
    for s in &shown {
        eprintln!("{s}");
    }
    println!(
        "returnn-oracle (RETURNN {}, seed {}): {} cases ({} decisions, {} errors in RETURNN); resolve: {} agree, {} disagree; path: {} queries, {} agree, {} disagree  [{:.1} s RETURNN, {:.1} s total]",
        doc["returnn_version"].as_str().unwrap_or("?"),
        o.seed,
        cases.len(),
        stats.ok_cases,
        stats.err_cases,
        stats.resolve_agree,
        stats.resolve_disagree,
        stats.path_total,
        stats.path_total - stats.path_disagree,
        stats.path_disagree,
        t_py,
        t0.elapsed().as_secs_f64()
    );
    if stats.resolve_disagree + stats.path_disagree > 0 {
        if o.keep {
            let kept = tmp.keep();
            eprintln!("cases kept in {}", kept.display());
        }
        bail!(
            "{} resolve and {} path disagreements with RETURNN",
            stats.resolve_disagree,
            stats.path_disagree
        );
    }
    if o.keep {
        let kept = tmp.keep();
        eprintln!("cases kept in {}", kept.display());
    }
    Ok(())
}

#[derive(Default)]
struct Stats {
    ok_cases: u32,
    err_cases: u32,
    resolve_agree: u32,
    resolve_disagree: u32,
    path_total: u32,
    path_disagree: u32,
}

impl Stats {
    fn count(&mut self, case: &Value, diffs: &Diffs) {
        if case["returnn"]["resolve"].get("error").is_some() {
            self.err_cases += 1;
        } else {
            self.ok_cases += 1;
        }
        if diffs.resolve.is_empty() {
            self.resolve_agree += 1;
        } else {
            self.resolve_disagree += 1;
        }
        self.path_total += case["queries"].as_array().map_or(0, |q| q.len() as u32);
        self.path_disagree += diffs.paths.len() as u32;
    }
}

#[derive(Default)]
struct Diffs {
    resolve: Vec<String>,
    rust_resolve: String,
    paths: Vec<String>,
}

impl Diffs {
    fn is_empty(&self) -> bool {
        self.resolve.is_empty() && self.paths.is_empty()
    }
}

/// The Python exception type our message claims (`AssertionError: ...` -> `AssertionError`).
fn our_exception(msg: &str) -> &str {
    match msg.split_once(':') {
        Some((head, _)) if !head.contains(' ') => head,
        _ => msg,
    }
}

fn check_case(bin: &Path, dir: &Path, case: &Value) -> Result<Diffs> {
    let mut d = Diffs::default();
    let overrides: Vec<&str> = case["overrides"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let config = dir.join(case["config"].as_str().context("config")?);
    let out = Command::new(bin)
        .args(["resolve", "--json", "-C"])
        .arg(dir)
        .arg(&config)
        .args(&overrides)
        .output()
        .context("running returnn-ckpt resolve")?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    d.rust_resolve = if stdout.trim().is_empty() {
        format!(
            "(exit {:?}, stderr: {})",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    } else {
        stdout.trim().to_string()
    };
    let ours: Option<Value> = serde_json::from_str(&stdout).ok();
    let theirs = &case["returnn"]["resolve"];
    match (theirs.get("error"), ours) {
        (_, None) => d.resolve.push("returnn-ckpt printed no JSON".into()),
        // the error document: {"error": {"kind", "message", ...}}
        (Some(err), Some(ours)) => match ours
            .get("error")
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
        {
            None => d
                .resolve
                .push("RETURNN raises, returnn-ckpt decides".into()),
            Some(msg) => {
                let want = err["type"].as_str().unwrap_or("?");
                if our_exception(msg) != want {
                    d.resolve.push(format!(
                        "exception type: RETURNN {want}, ours {:?}",
                        our_exception(msg)
                    ));
                }
                // exit 1: RETURNN's answer is an exception; exit 2 where the exception is that
                // a file the tool must read is missing (a config include): it cannot answer
                let unreadable = ours["error"]["kind"].as_str() == Some("config_not_found");
                if out.status.code() != Some(1) && !(unreadable && out.status.code() == Some(2)) {
                    d.resolve
                        .push(format!("exit code {:?}, expected 1", out.status.code()));
                }
            }
        },
        (None, Some(ours)) => {
            if ours.get("error").is_some() {
                d.resolve.push("RETURNN decides, returnn-ckpt fails".into());
            } else {
                for key in ["epoch", "model", "start_epoch", "existing", "notes"] {
                    let (a, b) = (&theirs[key], &ours[key]);
                    let same = if key == "notes" {
                        // Our notes may add lines of our own ("resolve: ..."); RETURNN's log
                        // lines must all be there, in order.
                        let ours: Vec<&Value> = b
                            .as_array()
                            .map(|v| {
                                v.iter()
                                    .filter(|n| {
                                        !n.as_str().is_some_and(|s| s.starts_with("resolve: "))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        let theirs: Vec<&Value> =
                            a.as_array().map(|v| v.iter().collect()).unwrap_or_default();
                        ours == theirs
                    } else {
                        a == b
                    };
                    if !same {
                        d.resolve.push(format!("{key}: RETURNN {a}, ours {b}"));
                    }
                }
            }
        }
    }

    // path
    let queries: Vec<&str> = case["queries"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !queries.is_empty() {
        let out = Command::new(bin)
            .current_dir(dir)
            .args(["path", "--json", "--"])
            .args(&queries)
            .output()
            .context("running returnn-ckpt path")?;
        let ours: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let theirs = case["returnn"]["paths"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (i, t) in theirs.iter().enumerate() {
            let Some(o) = ours.get(i) else {
                d.paths.push(format!(
                    "path {}: no output from returnn-ckpt path ({})",
                    t["input"],
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                continue;
            };
            let mut why = Vec::new();
            if t["pattern"] != o["pattern"] {
                why.push(format!(
                    "pattern RETURNN {}, ours {}",
                    t["pattern"], o["pattern"]
                ));
            }
            if t["epoch"] != o["epoch"] {
                why.push(format!("epoch RETURNN {}, ours {}", t["epoch"], o["epoch"]));
            }
            match (t.get("error"), o.get("error").and_then(Value::as_str)) {
                (None, None) => {}
                (Some(e), Some(m)) => {
                    if e["type"].as_str() != Some(our_exception(m)) {
                        why.push(format!("exception RETURNN {}, ours {m:?}", e["type"]));
                    }
                }
                (Some(e), None) => why.push(format!("RETURNN raises {e}, ours does not")),
                (None, Some(m)) => why.push(format!("ours fails ({m}), RETURNN does not")),
            }
            if !why.is_empty() {
                d.paths
                    .push(format!("path {}: {}", t["input"], why.join("; ")));
            }
        }
    }
    Ok(d)
}

fn describe(dir: &Path, case: &Value, d: &Diffs) -> String {
    let config = dir.join(case["config"].as_str().unwrap_or(""));
    let text = std::fs::read_to_string(&config).unwrap_or_default();
    let mut files = Vec::new();
    list_files(dir, dir, &mut files);
    let mut s = format!(
        "--- case {} ({})\nconfig {}:\n{}overrides: {}\nfiles: {}\n",
        case["id"],
        dir.display(),
        case["config"],
        indent(&text),
        case["overrides"],
        files.join("  ")
    );
    if !d.resolve.is_empty() {
        s += &format!(
            "RETURNN: {}\nours: {}\n",
            case["returnn"]["resolve"],
            d.rust_resolve.replace('\n', " ")
        );
        for r in &d.resolve {
            s += &format!("  DIFF resolve {r}\n");
        }
    }
    for p in &d.paths {
        s += &format!("  DIFF {p}\n");
    }
    s
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
        if rel.starts_with("cfg") {
            continue;
        }
        let ft = e.file_type().ok();
        if ft.is_some_and(|t| t.is_symlink()) {
            let target = std::fs::read_link(&p)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            out.push(format!("{rel}->{target}"));
        } else if ft.is_some_and(|t| t.is_dir()) {
            out.push(format!("{rel}/"));
            list_files(root, &p, out);
        } else {
            out.push(rel);
        }
    }
}
