//! `cargo xtask pt-faces-oracle [--cases N] [--seed S] [--keep]`: returnn-ckpt's `.pt` outputs
//! (the `convert` and `avg` jobs, issue 13) checked against real torch, TensorFlow and RETURNN
//! from the pinned venv (driver: `tools/pt-oracle/pt_faces.py`).
//!
//! 1. Every TF checkpoint of every fixture manifest, and every RETURNN `.pt` model file of the
//!    fixtures, is converted with `engine::convert` to `.pt` (skipping what a `.pt` cannot hold);
//!    `torch.load(f, weights_only=True, mmap=True)` of each must give RETURNN's layout, exactly
//!    the tensors written, each equal bit for bit (dtype, shape, bytes) to what
//!    `tf.train.load_checkpoint` (or `torch.load` of the `.pt` source) reads, and the `epoch` /
//!    `step` entries the job reported.
//! 2. RETURNN's real PyTorch engine loads one converted checkpoint (the NativeLSTM fixture run's
//!    epoch 3, renamed to module names with `--rename /=.`) with `_load_model`, once as
//!    `import_model_train_epoch1` and once as a `preload_from_files` entry; the module must then
//!    hold the file's values.
//! 3. N random sets of RETURNN checkpoints written by `torch.save` are averaged with
//!    `engine::avg`; the output must equal RETURNN's `tools/torch_avg_checkpoints.py` semantics
//!    (computed by the driver with real torch) bit for bit, scalars and key order included.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value as J};

struct Opts {
    cases: u32,
    seed: u64,
    keep: bool,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        cases: 60,
        seed: 1,
        keep: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cases" => o.cases = it.next().context("--cases needs N")?.parse()?,
            "--seed" => o.seed = it.next().context("--seed needs S")?.parse()?,
            "--keep" => o.keep = true,
            other => bail!(
                "unknown argument {other:?} (pt-faces-oracle [--cases N] [--seed S] [--keep])"
            ),
        }
    }
    Ok(o)
}

fn read_json(p: &Path) -> Result<J> {
    let b = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_slice(&b).with_context(|| format!("parsing {}", p.display()))
}

/// The fixture checkpoints: (path to open, is a `.pt` model file, manifest sha256 by tensor
/// name: for tensors TensorFlow's own readers cannot assemble, the generator's digest).
type Fixture = (std::path::PathBuf, bool, J);

fn fixture_checkpoints(root: &Path) -> Result<Vec<Fixture>> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("fixtures"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let m = read_json(&dir.join("manifest.json"))?;
        for c in m["checkpoints"].as_array().context("checkpoints")? {
            let prefix = c["prefix"].as_str().context("prefix")?;
            let pt = c["format"] == "pt";
            if pt && prefix.ends_with(".opt.pt") {
                continue;
            }
            let mut shas = serde_json::Map::new();
            for t in c["tensors"].as_array().into_iter().flatten() {
                if let (Some(n), Some(h)) = (t["name"].as_str(), t["sha256"].as_str()) {
                    shas.insert(n.to_string(), J::String(h.to_string()));
                }
            }
            out.push((dir.join(prefix), pt, J::Object(shas)));
        }
    }
    Ok(out)
}

/// Problems listed in a driver result (`results[].problems` or `runs.*.problems`).
fn collect(v: &J, what: &str, problems: &mut Vec<String>) {
    if let Some(rs) = v["results"].as_array() {
        for r in rs {
            for p in r["problems"].as_array().into_iter().flatten() {
                problems.push(format!(
                    "{what}: {}: {}",
                    r["pt"].as_str().unwrap_or(&r["case"].to_string()),
                    p
                ));
            }
        }
    }
    if let Some(runs) = v["runs"].as_object() {
        for (how, r) in runs {
            for p in r["problems"].as_array().into_iter().flatten() {
                problems.push(format!("{what}: {how}: {p}"));
            }
        }
    }
}

pub fn run(root: &Path, python: &Path, args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let t0 = Instant::now();
    let tmp = tempfile::Builder::new()
        .prefix("pt-faces-oracle-")
        .tempdir_in(root.join("target"))?;
    let work = tmp.path().to_path_buf();
    let script = root.join("tools/pt-oracle/pt_faces.py");
    let mut problems: Vec<String> = Vec::new();
    let none = engine::NoProgress;

    // 1. every fixture checkpoint to .pt
    let mut items = Vec::new();
    for (i, (src, is_pt, shas)) in fixture_checkpoints(root)?.into_iter().enumerate() {
        let out = work.join(format!("fx_{i:03}.pt"));
        let mut req = engine::convert::ConvertRequest::new(&src, &out);
        req.skip_unreadable = true;
        let r = engine::convert::run(&req, &none)
            .with_context(|| format!("convert {} {}", src.display(), out.display()))?;
        let written = engine::inspect::run(
            &engine::inspect::InspectRequest {
                path: out.clone(),
                ..Default::default()
            },
            &none,
        )?;
        // without renames, output names are the source names; the file keeps the source order
        let input = engine::inputs::Input::open(&src, &Default::default())?;
        let names: Vec<J> = input
            .tensors()
            .iter()
            .filter(|t| written.tensors.iter().any(|w| w.name == t.name))
            .map(|t| json!([t.name, t.name]))
            .collect();
        let meta = r.metadata.context("a .pt output reports its metadata")?;
        let tf_prefix = input.checkpoint().map(|c| c.prefix().display().to_string());
        items.push(json!({
            "pt": out,
            "tf": tf_prefix,
            "src_pt": is_pt.then(|| src.display().to_string()),
            "names": names,
            "skipped": r.skipped.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            "epoch": meta.epoch,
            "step": meta.step,
            "manifest_sha256": shas,
        }));
    }
    let list = work.join("converted.json");
    std::fs::write(
        &list,
        serde_json::to_vec_pretty(&json!({ "items": items }))?,
    )?;
    let res = work.join("converted.result.json");
    super::run(
        Command::new(python)
            .arg(&script)
            .arg("check-converted")
            .arg("--list")
            .arg(&list)
            .arg("--out")
            .arg(&res),
    )
    .context("pt_faces.py check-converted")?;
    let conv = read_json(&res)?;
    collect(&conv, "converted", &mut problems);
    eprintln!(
        "pt-faces-oracle: {} fixture checkpoints converted to .pt, {} tensors equal to TF's / torch's",
        conv["files"], conv["tensors"]
    );

    // 2. RETURNN's PyTorch engine loads a converted checkpoint
    let native = root.join("fixtures/returnn_train_nativelstm/net-model/network.003");
    let conv_pt = work.join("native3.pt");
    let mut req = engine::convert::ConvertRequest::new(&native, &conv_pt);
    req.rename = vec!["/=.".into()];
    req.config = Some(engine::config::ConfigRequest::file(
        root.join("fixtures/returnn_train_nativelstm/returnn.config"),
        Vec::new(),
        root.join("fixtures/returnn_train_nativelstm"),
    ));
    engine::convert::run(&req, &none).context("convert for RETURNN")?;
    let res = work.join("returnn.result.json");
    super::run(
        Command::new(python)
            .arg(&script)
            .arg("returnn-load")
            .arg("--pt")
            .arg(&conv_pt)
            .arg("--work")
            .arg(work.join("returnn"))
            .arg("--out")
            .arg(&res),
    )
    .context("pt_faces.py returnn-load")?;
    let rl = read_json(&res)?;
    collect(&rl, "returnn", &mut problems);
    if rl["runs"].as_object().map_or(0, |m| m.len()) != 2 {
        problems.push(format!("returnn: expected two runs, got {rl}"));
    }
    eprintln!(
        "pt-faces-oracle: RETURNN's _load_model took {} params of {} as import_model_train_epoch1 and as preload_from_files",
        rl["params"],
        conv_pt.display()
    );

    // 3. avg of random torch.save checkpoints vs torch_avg_checkpoints.py's arithmetic
    let avg = work.join("avg");
    super::run(
        Command::new(python)
            .arg(&script)
            .arg("avg-cases")
            .arg("--out")
            .arg(&avg)
            .args([
                "--cases",
                &o.cases.to_string(),
                "--seed",
                &o.seed.to_string(),
            ]),
    )
    .context("pt_faces.py avg-cases")?;
    for i in 0..o.cases {
        let n = read_json(&avg.join(format!("avg_{i:04}.json")))?["inputs"]
            .as_u64()
            .context("inputs")?;
        let paths = (0..n)
            .map(|j| avg.join(format!("avg_{i:04}_{j}.pt")))
            .collect();
        let r = engine::avg::run(
            &engine::avg::AvgRequest {
                paths,
                out: avg.join(format!("avg_{i:04}.ours.pt")),
                ignore_missing: false,
                force: false,
            },
            &none,
        );
        if let Err(e) = r {
            problems.push(format!("avg case {i}: [{}] {e}", e.label()));
        }
    }
    let res = work.join("avg.result.json");
    if problems.iter().all(|p| !p.starts_with("avg case")) {
        super::run(
            Command::new(python)
                .arg(&script)
                .arg("avg-check")
                .arg("--dir")
                .arg(&avg)
                .args(["--cases", &o.cases.to_string()])
                .arg("--out")
                .arg(&res),
        )
        .context("pt_faces.py avg-check")?;
        let ac = read_json(&res)?;
        collect(&ac, "avg", &mut problems);
        eprintln!(
            "pt-faces-oracle: {} averages ({} tensors) equal to torch_avg_checkpoints.py's",
            ac["cases"], ac["tensors"]
        );
    }

    if o.keep {
        let kept = tmp.keep();
        eprintln!("pt-faces-oracle: kept {}", kept.display());
    }
    eprintln!(
        "pt-faces-oracle: {} problems in {:.1}s",
        problems.len(),
        t0.elapsed().as_secs_f64()
    );
    if !problems.is_empty() {
        for p in problems.iter().take(40) {
            eprintln!("  {p}");
        }
        bail!("{} problems", problems.len());
    }
    Ok(())
}
