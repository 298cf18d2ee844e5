//! # xtask
//!
//! Developer tasks run as `cargo xtask <task>` (alias in `.cargo/config.toml`). Never part of the
//! product: nothing in `crates/` depends on it, and the TensorFlow-linked oracle lives in its own
//! workspace (`xtask/tf-oracle`, excluded from the root workspace) so that
//! `cargo build/clippy/test --workspace` never needs TensorFlow.
//!
//! * `cargo xtask fixtures [--check] [--out DIR] [--case NAME]...` — creates or reuses the pinned
//!   Python venv `target/fixtures-venv` (`fixtures/gen/requirements.txt` + `constraints.txt`,
//!   then `requirements-torch.txt` with `--no-deps`),
//!   runs the project's generator `fixtures/gen/gen_fixtures.py` (real TensorFlow, real RETURNN),
//!   verifies the result with TensorFlow and with our own reader, and replaces the cases in
//!   `fixtures/`. `--check` generates and verifies in a temporary directory, re-verifies the
//!   committed `fixtures/` manifests against their files, and never writes to `fixtures/`;
//!   `--out DIR` writes there instead of `fixtures/`.
//! * `cargo xtask oracle [--cases N] [--seed S] [--side reader|writer|both]` — builds and runs
//!   the differential oracle `xtask/tf-oracle` against the wheel's TensorFlow C library.
//! * `cargo xtask venv` — only creates / updates the venv.
//! * `cargo xtask wheel`, `cargo xtask pytest`, `cargo xtask bench-py` — the Python package
//!   (see `wheel.rs`).
// A developer tool: it prints, and may stop at the first failure.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod bench;
mod fuzz;
mod mapping_oracle;
mod port_oracle;
mod pt_faces_oracle;
mod pt_oracle;
mod returnn_oracle;
mod torch_oracle;
mod wheel;
mod wild;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};

const USAGE: &str = "usage: cargo xtask <task>
  fixtures [--check] [--out DIR] [--case NAME]...   regenerate fixtures/ (or check the generator)
  oracle [--cases N] [--seed S] [--side reader|writer|both]   TensorFlow differential oracle
  returnn-oracle [--cases N] [--seed S] [--keep]    resolve/path against real RETURNN
  venv                                              create/update target/fixtures-venv
  mapping-oracle [--cases N] [--seed S] [--keep DIR]   plan/load vs real RETURNN's CustomCheckpointLoader
  torch-oracle [--cases N] [--seed S] [--keep DIR]     torch-engine loading rules vs real RETURNN's _load_model
  port-oracle [--cases N] [--seed S] [--keep DIR]   port rules vs real RETURNN (TF) and RF/torch outputs
  fuzz [--seconds N] [--target T]... | --seeds      run the fuzz targets (see xtask/src/fuzz.rs)
  bench [--sizes 1,4] [--runs N] [--many N] [--no-tf]   jobs vs I/O floors and TF-Python (release)
  wild [DIR]                                        every checkpoint of the wild corpus vs TensorFlow's reader
  pt-oracle [--cases N] [--seed S] [--keep]        torch-pt against real torch (both directions)
  pt-faces-oracle [--cases N] [--seed S] [--keep]  .pt outputs of convert/avg vs torch, TF and RETURNN
  wheel                                             build the returnn_ckpt abi3 wheel into target/wheels/
  pytest [PYTEST ARGS]                              the Python package's tests against real TensorFlow
  bench-py [--size-mb M] [--runs N]                 returnn_ckpt vs tf.train.load_checkpoint (1 GiB)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("fixtures") => fixtures(&args[1..]),
        Some("oracle") => oracle(&args[1..]),
        Some("returnn-oracle") => returnn_oracle::run(&args[1..]),
        Some("venv") => ensure_venv().map(|_| ()),
        Some("fuzz") => fuzz::run(&root(), &args[1..]),
        Some("bench") => bench::run(&root(), &args[1..]),
        Some("wild") => ensure_venv().and_then(|v| wild::run(&root(), &v.python, &args[1..])),
        Some("pt-oracle") => {
            ensure_venv().and_then(|v| pt_oracle::run(&root(), &v.python, &args[1..]))
        }
        Some("pt-faces-oracle") => {
            ensure_venv().and_then(|v| pt_faces_oracle::run(&root(), &v.python, &args[1..]))
        }
        Some("mapping-oracle") => {
            ensure_venv().and_then(|v| mapping_oracle::run(&root(), &v.python, &args[1..]))
        }
        Some("torch-oracle") => {
            ensure_venv().and_then(|v| torch_oracle::run(&root(), &v.python, &args[1..]))
        }
        Some("port-oracle") => {
            ensure_venv().and_then(|v| port_oracle::run(&root(), &v.python, &args[1..]))
        }
        Some("wheel") => ensure_venv().and_then(|v| wheel::wheel(&root(), &v.python).map(|_| ())),
        Some("pytest") => ensure_venv().and_then(|v| wheel::pytest(&root(), &v.python, &args[1..])),
        Some("bench-py") => {
            ensure_venv().and_then(|v| wheel::bench_py(&root(), &v.python, &args[1..]))
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow!("unknown xtask {other:?}\n{USAGE}")),
        None => Err(anyhow!("{USAGE}")),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let st = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !st.success() {
        bail!("{:?} failed with {st}", cmd.get_program());
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// The pinned Python environment

struct Venv {
    python: PathBuf,
}

/// Creates or reuses `target/fixtures-venv` with the pinned packages. Reused when its stamp
/// equals the current requirements + constraints.
fn ensure_venv() -> Result<Venv> {
    let root = root();
    let dir = root.join("target/fixtures-venv");
    let gen = root.join("fixtures/gen");
    let req = gen.join("requirements.txt");
    let con = gen.join("constraints.txt");
    let torch = gen.join("requirements-torch.txt");
    let read = |p: &Path| std::fs::read_to_string(p).with_context(|| p.display().to_string());
    let want = format!(
        "{}\n--\n{}\n--\n{}",
        read(&req)?,
        read(&con)?,
        read(&torch)?
    );
    let stamp = dir.join("xtask-stamp.txt");
    let python = dir.join("bin/python");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&want) {
        return Ok(Venv { python });
    }
    let t0 = Instant::now();
    if !python.exists() {
        let sys_python = std::env::var_os("XTASK_PYTHON").unwrap_or_else(|| "python3".into());
        run(Command::new(&sys_python).args(["-m", "venv"]).arg(&dir))
            .context("creating the venv (needs python3 with the venv module)")?;
    }
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&req)
        .arg("-c")
        .arg(&con))
    .context("pip install of the pinned fixture/oracle environment")?;
    // torch with its dependencies listed explicitly and --no-deps: leaves out triton (GPU
    // kernels, ~0.2 GB) that a plain `pip install torch` pulls in; about 2.7 GB download.
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "-r",
        ])
        .arg(&torch))
    .context("pip install of torch (fixtures/gen/requirements-torch.txt)")?;
    std::fs::write(&stamp, want)?;
    eprintln!(
        "xtask: venv ready in {:.0} s: {}",
        t0.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(Venv { python })
}

fn tf_site_dir(venv: &Venv) -> Result<PathBuf> {
    let out = Command::new(&venv.python)
        .args([
            "-c",
            "import importlib.util,os;print(os.path.dirname(importlib.util.find_spec('tensorflow').origin))",
        ])
        .output()
        .context("locating the tensorflow package")?;
    if !out.status.success() {
        bail!(
            "the venv has no tensorflow package: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

// ------------------------------------------------------------------------------------------
// cargo xtask fixtures

fn fixtures(args: &[String]) -> Result<()> {
    let mut check = false;
    let mut out: Option<PathBuf> = None;
    let mut cases: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--check" => check = true,
            "--out" => out = Some(it.next().context("--out needs a directory")?.into()),
            "--case" => cases.push(it.next().context("--case needs a name")?.clone()),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let root = root();
    let venv = ensure_venv()?;
    let script = root.join("fixtures/gen/gen_fixtures.py");
    let tmp;
    let gen_dir = if check {
        tmp = tempfile::Builder::new()
            .prefix("fixtures-check-")
            .tempdir_in(root.join("target"))?;
        tmp.path().to_path_buf()
    } else if let Some(o) = &out {
        o.clone()
    } else {
        let d = root.join("target/fixtures-new");
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
        }
        d
    };
    let t0 = Instant::now();
    let mut gen = Command::new(&venv.python);
    gen.arg(&script).arg("generate").arg("--out").arg(&gen_dir);
    let mut ver = Command::new(&venv.python);
    ver.arg(&script).arg("verify").arg(&gen_dir);
    for c in &cases {
        gen.args(["--case", c]);
        ver.args(["--case", c]);
    }
    run(&mut gen).context("fixture generator")?;
    let t_gen = t0.elapsed().as_secs_f64();
    run(&mut ver).context("verifying the generated manifests with TensorFlow")?;
    let n = verify_with_our_reader(&gen_dir, &cases)?;
    if check {
        // the committed corpus must still be described exactly by its manifests
        run(Command::new(&venv.python)
            .arg(&script)
            .args(["verify", "--present"])
            .arg(root.join("fixtures")))
        .context("verifying the committed fixtures/ manifests with TensorFlow")?;
    }
    eprintln!(
        "xtask: fixtures generated in {t_gen:.0} s and verified (TensorFlow/torch + tf-bundle/torch-pt: {n} tensor digests) in {:.0} s total",
        t0.elapsed().as_secs_f64()
    );
    if check || out.is_some() {
        return Ok(());
    }
    install_into_fixtures(&gen_dir, &root.join("fixtures"), &cases)
}

/// Replaces `fixtures/<case>` by the generated cases; README.md / NOTES.md stay.
fn install_into_fixtures(gen_dir: &Path, fixtures: &Path, cases: &[String]) -> Result<()> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(gen_dir)? {
        let e = e?;
        if e.path().join("manifest.json").exists() {
            names.push(e.file_name());
        }
    }
    names.sort();
    for name in &names {
        let dst = fixtures.join(name);
        if dst.exists() {
            std::fs::remove_dir_all(&dst)?;
        }
        std::fs::rename(gen_dir.join(name), &dst)?;
    }
    if cases.is_empty() {
        for f in ["pip-freeze.txt", "generation_summary.json"] {
            std::fs::copy(gen_dir.join(f), fixtures.join(f))?;
        }
    }
    let shown: Vec<String> = names
        .iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    eprintln!("xtask: replaced fixtures/{{{}}}", shown.join(","));
    Ok(())
}

fn json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    serde_json::from_str(&text).with_context(|| path.display().to_string())
}

/// Opens every generated checkpoint with `tf_bundle` and compares its tensor list and each
/// tensor digest with the manifest. Returns the number of digests compared.
fn verify_with_our_reader(dir: &Path, only: &[String]) -> Result<u64> {
    let mut compared = 0u64;
    let mut errors = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    entries.sort();
    for case_dir in entries {
        let case = case_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !only.is_empty() && !only.contains(&case) {
            continue;
        }
        let m = json(&case_dir.join("manifest.json"))?;
        for ck in m["checkpoints"].as_array().into_iter().flatten() {
            let prefix = ck["prefix"].as_str().unwrap_or_default();
            let what = format!("{case}/{prefix}");
            if ck["format"] == "pt" {
                compared += verify_pt(&case_dir.join(prefix), ck, &what, &mut errors);
                continue;
            }
            let c = match tf_bundle::Checkpoint::open(case_dir.join(prefix)) {
                Ok(c) => c,
                Err(e) => {
                    errors.push(format!("{what}: tf_bundle cannot open it: {e}"));
                    continue;
                }
            };
            let manifest: BTreeMap<&str, &Value> = ck["tensors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["name"].as_str().map(|n| (n, t)))
                .collect();
            let ours: Vec<&str> = c.tensors().iter().map(|t| t.name.as_str()).collect();
            let theirs: Vec<&str> = manifest.keys().copied().collect();
            if ours != theirs {
                errors.push(format!(
                    "{what}: tensor list differs: manifest {theirs:?}, tf_bundle {ours:?}"
                ));
                continue;
            }
            for info in c.tensors() {
                let t = manifest[info.name.as_str()];
                let shape: Vec<u64> = t["shape"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_u64)
                    .collect();
                if info.dtype.name() != t["dtype"].as_str().unwrap_or_default()
                    || info.shape != shape
                {
                    errors.push(format!(
                        "{what}: {}: manifest says {} {:?}, tf_bundle {} {:?}",
                        info.name, t["dtype"], shape, info.dtype, info.shape
                    ));
                    continue;
                }
                let Some(want) = t["sha256"].as_str() else {
                    // TF could not read it either: our reader must report an error.
                    if c.read(&info.name).is_ok() {
                        errors.push(format!(
                            "{what}: {}: TF cannot read it (manifest read_error) but tf_bundle returned a value",
                            info.name
                        ));
                    }
                    continue;
                };
                match c.read(&info.name) {
                    Ok(tensor) => {
                        let got = hex::encode(tf_bundle::digest::digest(&tensor));
                        compared += 1;
                        if got != want {
                            errors.push(format!(
                                "{what}: {}: sha256 expected {want}, tf_bundle {got}",
                                info.name
                            ));
                        }
                    }
                    Err(e) => {
                        errors.push(format!("{what}: {}: tf_bundle read failed: {e}", info.name))
                    }
                }
            }
            // whole-file hashes in the manifest are re-checked here too (cheap, independent)
            for (f, meta) in ck["files"].as_object().into_iter().flatten() {
                let p = case_dir.join(f);
                let got = std::fs::read(&p).map(|b| hex::encode(Sha256::digest(&b)));
                if got.ok().as_deref() != meta["sha256"].as_str() {
                    errors.push(format!("{what}: sha256 of {f} differs from the manifest"));
                }
            }
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("xtask: ERROR {e}");
        }
        bail!(
            "{} problem(s) when reading the generated fixtures with tf_bundle",
            errors.len()
        );
    }
    Ok(compared)
}

/// Reads a `.pt` item of a manifest with `torch_pt` and compares every tensor (name = dotted
/// path, dtype, shape, sha256) and the state-dict keys; returns the digests compared.
fn verify_pt(path: &Path, ck: &Value, what: &str, errors: &mut Vec<String>) -> u64 {
    let f = match torch_pt::PtFile::open(path) {
        Ok(f) => f,
        Err(e) => {
            errors.push(format!("{what}: torch_pt cannot open it: {e}"));
            return 0;
        }
    };
    let ours = f.tensors();
    let theirs: Vec<&Value> = ck["tensors"].as_array().into_iter().flatten().collect();
    let names: Vec<&str> = ours.iter().map(|t| t.name.as_str()).collect();
    let want: Vec<&str> = theirs.iter().filter_map(|t| t["name"].as_str()).collect();
    if names != want {
        errors.push(format!(
            "{what}: tensor list differs: manifest {want:?}, torch_pt {names:?}"
        ));
        return 0;
    }
    let mut n = 0;
    for (t, m) in ours.iter().zip(theirs) {
        let shape: Vec<u64> = m["shape"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        if t.info.dtype.name() != m["dtype"].as_str().unwrap_or_default() || t.info.shape != shape {
            errors.push(format!("{what}: {}: dtype/shape differ", t.name));
            continue;
        }
        match f.digest(t) {
            Ok(d) if Some(hex::encode(d).as_str()) == m["sha256"].as_str() => n += 1,
            Ok(_) => errors.push(format!("{what}: {}: sha256 differs", t.name)),
            Err(e) => errors.push(format!("{what}: {}: {e}", t.name)),
        }
    }
    if let Some(keys) = ck["state_dict"]["keys"].as_array() {
        match f.state_dict() {
            Ok(sd) => {
                let ours: Vec<&str> = sd.tensors.iter().map(|t| t.name.as_str()).collect();
                let theirs: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
                if ours != theirs {
                    errors.push(format!("{what}: state-dict keys differ"));
                }
            }
            Err(e) => errors.push(format!("{what}: state dict: {e}")),
        }
    }
    n
}

// ------------------------------------------------------------------------------------------
// cargo xtask oracle

fn oracle(args: &[String]) -> Result<()> {
    let root = root();
    let venv = ensure_venv()?;
    let site = tf_site_dir(&venv)?;
    // pkg-config file + symlinks so that tensorflow-sys links offline against the wheel
    let lib = root.join("target/oracle-tflib");
    std::fs::create_dir_all(&lib)?;
    // linker names for tensorflow-sys, SONAMEs for the loader (LD_LIBRARY_PATH)
    for (link, target) in [
        ("libtensorflow.so", "libtensorflow_cc.so.2"),
        ("libtensorflow_framework.so", "libtensorflow_framework.so.2"),
        ("libtensorflow_cc.so.2", "libtensorflow_cc.so.2"),
        (
            "libtensorflow_framework.so.2",
            "libtensorflow_framework.so.2",
        ),
    ] {
        let t = site.join(target);
        if !t.exists() {
            bail!(
                "{} is missing: the tensorflow-cpu wheel layout changed",
                t.display()
            );
        }
        let l = lib.join(link);
        let _ = std::fs::remove_file(&l);
        std::os::unix::fs::symlink(&t, &l)
            .with_context(|| format!("symlink {} -> {}", l.display(), t.display()))?;
    }
    std::fs::write(
        lib.join("tensorflow.pc"),
        format!(
            "libdir={}\nName: tensorflow\nDescription: TensorFlow C API of the tensorflow-cpu wheel\nVersion: 2.21.0\nLibs: -L${{libdir}} -ltensorflow -ltensorflow_framework\nCflags:\n",
            lib.display()
        ),
    )?;
    let mut ld = OsString::from(lib.as_os_str());
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        ld.push(":");
        ld.push(old);
    }
    let t0 = Instant::now();
    let manifest = root.join("xtask/tf-oracle/Cargo.toml");
    run(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            // not --locked: tf-bundle (a path dependency) may gain dependencies; the lock file is
            // updated then, everything already in it stays pinned
            .args(["build", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(root.join("target/oracle"))
            .env("PKG_CONFIG_PATH", &lib),
    )
    .context("building xtask/tf-oracle against the wheel's libtensorflow")?;
    eprintln!("xtask: oracle built in {:.0} s", t0.elapsed().as_secs_f64());
    let t1 = Instant::now();
    let work = root.join("target/oracle-work");
    run(Command::new(root.join("target/oracle/debug/tf-oracle"))
        .args(args)
        .arg("--work-dir")
        .arg(&work)
        .env("LD_LIBRARY_PATH", ld)
        .env("TF_CPP_MIN_LOG_LEVEL", "2"))
    .context("the TensorFlow differential oracle found a difference or could not run")?;
    eprintln!("xtask: oracle ran in {:.0} s", t1.elapsed().as_secs_f64());
    Ok(())
}
