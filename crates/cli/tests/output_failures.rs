//! No temp file survives any failure (issue 17, "Outputs"), for every writer the CLI drives:
//! the safetensors writer (`convert`, `load`), the TF bundle writer (`convert --to tf` from a
//! checkpoint and from a safetensors file, `avg`, `load`). Each is made to fail while it
//! writes, in every way the issue lists:
//!
//! * the output is a directory (`--force` given);
//! * the output directory is read-only (as an unprivileged user: root may write anywhere, so
//!   as root the command runs under `setpriv --reuid 65534`);
//! * the input is corrupt in its last tensor, so the failure comes mid-stream, after other
//!   tensors were written;
//! * the process gets SIGINT or SIGTERM mid-write: it removes its temp files and exits with
//!   130 / 143 (with `--json`, stdout is the error document);
//! * the disk fills up, simulated by a file size limit (`prlimit --fsize`, util-linux): the
//!   write fails with EFBIG exactly as it fails with ENOSPC on a full disk, needs no root, no
//!   loop device and no tmpfs, so it runs the same on any CI machine. (The CLI ignores the
//!   SIGXFSZ such a limit raises, so the write error is reported instead of the process being
//!   killed with its temp file left behind.)
//!
//! After each failure: the exit code says so, nothing exists under the output's final names,
//! the output directory holds no temp file, and the input is unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
#![cfg(target_os = "linux")]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tf_bundle::write::BundleWriter;
use tf_bundle::DType;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_returnn-ckpt"))
}

/// A float32 TF checkpoint `dir/NAME` of `tensors` tensors `layerNN/W` of `floats` elements.
fn checkpoint(dir: &Path, name: &str, tensors: usize, floats: usize) -> PathBuf {
    let prefix = dir.join(name);
    let mut w = BundleWriter::create(&prefix).unwrap();
    for i in 0..tensors {
        let bytes: Vec<u8> = (0..floats as u32)
            .flat_map(|j| ((j.wrapping_mul(2654435761) ^ i as u32) as f32).to_le_bytes())
            .collect();
        w.add_bytes(
            &format!("layer{i:02}/W"),
            DType::Float32,
            &[(floats / 1024) as u64, 1024],
            &bytes,
        )
        .unwrap();
    }
    w.finish().unwrap();
    prefix
}

/// Everything one writer needs: its inputs and how to run it into `out`.
struct Inputs {
    dir: tempfile::TempDir,
    ckpt: PathBuf,
    safetensors: PathBuf,
    config: PathBuf,
}

const FLOATS: usize = 1 << 20; // 4 MiB per tensor

fn inputs(tensors: usize) -> Inputs {
    let dir = tempfile::tempdir().unwrap();
    // Readable by the unprivileged user of the read-only test.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ckpt = checkpoint(dir.path(), "big", tensors, FLOATS);
    let safetensors = dir.path().join("big.safetensors");
    let st = Command::new(bin())
        .arg("convert")
        .arg(&ckpt)
        .arg(&safetensors)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // RETURNN checks that the imported checkpoint has a .meta file (it does not read it here).
    std::fs::write(dir.path().join("big.meta"), b"").unwrap();
    let config = dir.path().join("returnn.config");
    std::fs::write(
        &config,
        format!(
            "#!rnn.py\ntask = \"train\"\nmodel = {:?}\nimport_model_train_epoch1 = {:?}\n",
            dir.path().join("net-model/network").to_string_lossy(),
            ckpt.to_string_lossy()
        ),
    )
    .unwrap();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    Inputs {
        dir,
        ckpt,
        safetensors,
        config,
    }
}

/// One writer: a name, the arguments writing to `out/x[.safetensors]`, and the final names.
struct Writer {
    name: &'static str,
    args: Vec<String>,
    finals: Vec<&'static str>,
    /// The input is a TF checkpoint whose CRCs are checked while writing.
    reads_ckpt: bool,
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn writers(inp: &Inputs, out: &Path) -> Vec<Writer> {
    let st = s(&out.join("x.safetensors"));
    let tf = s(&out.join("x"));
    let ckpt = s(&inp.ckpt);
    let load = |o: &str| {
        vec![
            "load".into(),
            s(&inp.config),
            "--target".into(),
            ckpt.clone(),
            "--fresh".into(),
            "--out".into(),
            o.to_string(),
        ]
    };
    let bundle = vec!["x.index", "x.data-00000-of-00001"];
    vec![
        Writer {
            name: "convert to safetensors",
            args: vec!["convert".into(), ckpt.clone(), st.clone()],
            finals: vec!["x.safetensors"],
            reads_ckpt: true,
        },
        Writer {
            name: "convert to a TF bundle",
            args: vec![
                "convert".into(),
                ckpt.clone(),
                tf.clone(),
                "--to".into(),
                "tf".into(),
            ],
            finals: bundle.clone(),
            reads_ckpt: true,
        },
        Writer {
            name: "convert safetensors to a TF bundle",
            args: vec!["convert".into(), s(&inp.safetensors), tf.clone()],
            finals: bundle.clone(),
            reads_ckpt: false,
        },
        Writer {
            name: "avg",
            args: vec![
                "avg".into(),
                ckpt.clone(),
                ckpt.clone(),
                "--out".into(),
                tf.clone(),
            ],
            finals: bundle.clone(),
            reads_ckpt: true,
        },
        Writer {
            name: "load to safetensors",
            args: load(&st),
            finals: vec!["x.safetensors"],
            reads_ckpt: true,
        },
        Writer {
            name: "load to a TF bundle",
            args: load(&tf),
            finals: bundle,
            reads_ckpt: true,
        },
    ]
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn is_temp(name: &str) -> bool {
    (name.starts_with('.') && name.ends_with(".tmp")) || name.contains(".tempstate")
}

/// sha256 of every file of the inputs' directory.
fn input_state(inp: &Inputs) -> Vec<(String, String)> {
    names(inp.dir.path())
        .into_iter()
        .filter(|n| !Path::new(n).is_dir())
        .map(|n| {
            let p = inp.dir.path().join(&n);
            let h = if p.is_file() {
                hex::encode(Sha256::digest(std::fs::read(&p).unwrap()))
            } else {
                String::new()
            };
            (n, h)
        })
        .collect()
}

/// The output directory holds nothing but `allowed` entries (no final name, no temp file).
fn assert_clean(w: &Writer, out: &Path, allowed: &[&str], o: &Output) {
    let left = names(out);
    for f in &w.finals {
        assert!(
            !out.join(f).exists(),
            "{}: {f} exists after the failure: {left:?}",
            w.name
        );
    }
    for n in &left {
        assert!(
            allowed.contains(&n.as_str()),
            "{}: {n} is left in the output directory ({}temp file): {left:?}\nstderr: {}",
            w.name,
            if is_temp(n) { "a " } else { "not a " },
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

fn run(args: &[String]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_output_is_a_directory() {
    let inp = inputs(2);
    let before = input_state(&inp);
    let out = tempfile::tempdir().unwrap();
    for w in writers(&inp, out.path()) {
        // The output's own name (x.safetensors, or the prefix x) is an existing directory.
        let target = w
            .args
            .iter()
            .find(|a| a.starts_with(&s(out.path())))
            .unwrap()
            .clone();
        std::fs::create_dir(&target).unwrap();
        std::fs::write(Path::new(&target).join("keep"), b"mine").unwrap();
        let mut args = w.args.clone();
        args.push("--force".into());
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{}: {}", w.name, stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("error[output]") && e.contains("is a directory") && e.contains("hint: pass"),
            "{}: {e}",
            w.name
        );
        let dir_name = Path::new(&target)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(names(out.path()), [dir_name.as_str()], "{}", w.name);
        assert_eq!(
            std::fs::read(Path::new(&target).join("keep")).unwrap(),
            b"mine"
        );
        std::fs::remove_dir_all(&target).unwrap();
    }
    assert_eq!(input_state(&inp), before, "the input changed");
}

/// Whether this process runs as root (who may write into a read-only directory).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

#[test]
fn the_output_directory_is_read_only() {
    let inp = inputs(2);
    let before = input_state(&inp);
    let out = tempfile::tempdir().unwrap();
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ro = out.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    for w in writers(&inp, &ro) {
        let mut cmd = if is_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(bin());
            c
        } else {
            Command::new(bin())
        };
        let o = cmd.args(&w.args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{}: {}", w.name, stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("Permission denied") && e.contains("hint: no permission to write in"),
            "{}: {e}",
            w.name
        );
        assert_clean(&w, &ro, &[], &o);
    }
    assert_eq!(input_state(&inp), before, "the input changed");
}

#[test]
fn the_input_is_corrupt_in_its_last_tensor() {
    let inp = inputs(4);
    // Flip one byte of the last tensor (layer03/W, the last in the data file and in name
    // order): the tensors before it are written before the CRC check fails.
    let data = inp.dir.path().join("big.data-00000-of-00001");
    let mut bytes = std::fs::read(&data).unwrap();
    let at = 3 * FLOATS * 4 + 1000;
    bytes[at] ^= 0x40;
    std::fs::write(&data, &bytes).unwrap();
    let before = input_state(&inp);
    let out = tempfile::tempdir().unwrap();
    let mut tested = 0;
    for w in writers(&inp, out.path()) {
        if !w.reads_ckpt {
            continue;
        }
        let o = run(&w.args);
        assert_eq!(o.status.code(), Some(2), "{}: {}", w.name, stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("layer03/W") && e.contains("checksum"),
            "{}: {e}",
            w.name
        );
        assert_clean(&w, out.path(), &[], &o);
        tested += 1;
    }
    assert_eq!(tested, 5);
    assert_eq!(input_state(&inp), before, "the input changed");
}

#[test]
fn the_disk_fills_up() {
    let inp = inputs(4);
    let before = input_state(&inp);
    let out = tempfile::tempdir().unwrap();
    for w in writers(&inp, out.path()) {
        // 6 MiB: room for one tensor and a half of the 16 MiB output.
        let o = Command::new("prlimit")
            .arg(format!("--fsize={}", 6 << 20))
            .arg(bin())
            .args(&w.args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}: {}", w.name, stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("File too large") && e.contains("hint: a file size limit"),
            "{}: {e}",
            w.name
        );
        assert_clean(&w, out.path(), &[], &o);
    }
    assert_eq!(input_state(&inp), before, "the input changed");
}

/// Starts `args` (stdout/stderr to files in `logs`), waits until a temp file in `out` holds
/// between 1 byte and `max` bytes, sends `signal` (`kill -s`), and returns the output.
fn signal_mid_write(args: &[String], out: &Path, logs: &Path, signal: &str, max: u64) -> Output {
    let (so, se) = (logs.join("stdout"), logs.join("stderr"));
    let mut child = Command::new(bin())
        .args(args)
        .stdout(std::fs::File::create(&so).unwrap())
        .stderr(std::fs::File::create(&se).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "{args:?} finished ({st}) before it could be interrupted: {}",
                std::fs::read_to_string(&se).unwrap_or_default()
            );
        }
        let writing = std::fs::read_dir(out).unwrap().any(|e| {
            let e = e.unwrap();
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            is_temp(&e.file_name().to_string_lossy()) && size > 0 && size < max
        });
        if writing {
            let k = Command::new("kill")
                .args(["-s", signal, &child.id().to_string()])
                .status()
                .unwrap();
            assert!(k.success());
            let status = child.wait().unwrap();
            return Output {
                status,
                stdout: std::fs::read(&so).unwrap(),
                stderr: std::fs::read(&se).unwrap(),
            };
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no temp file appeared in {}",
            out.display()
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn interrupted_by_sigint_and_sigterm() {
    const TENSORS: usize = 24; // 96 MiB: slow enough to be caught mid-write
    let inp = inputs(TENSORS);
    let before = input_state(&inp);
    let logs = tempfile::tempdir().unwrap();
    let max = (TENSORS * FLOATS * 4 / 2) as u64;
    for (signal, code, json) in [("INT", 130, false), ("TERM", 143, true)] {
        let out = tempfile::tempdir().unwrap();
        for w in writers(&inp, out.path()) {
            let mut args = w.args.clone();
            if json {
                args.push("--json".into());
            }
            let o = signal_mid_write(&args, out.path(), logs.path(), signal, max);
            assert_eq!(
                o.status.code(),
                Some(code),
                "{} SIG{signal}: {}",
                w.name,
                stderr(&o)
            );
            let msg = format!("interrupted by SIG{signal}; removed the unfinished output");
            if json {
                let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
                    .unwrap_or_else(|e| panic!("{}: stdout is not one JSON document: {e}", w.name));
                assert_eq!(doc["error"]["kind"], "interrupted", "{}", w.name);
                assert!(
                    doc["error"]["message"].as_str().unwrap().contains(&msg),
                    "{}: {doc}",
                    w.name
                );
            } else {
                let e = stderr(&o);
                assert!(
                    e.contains(&format!("error[interrupted]: {msg}")),
                    "{}: {e}",
                    w.name
                );
                assert!(o.stdout.is_empty(), "{}", w.name);
            }
            assert_clean(&w, out.path(), &[], &o);
        }
    }
    assert_eq!(input_state(&inp), before, "the input changed");
}
