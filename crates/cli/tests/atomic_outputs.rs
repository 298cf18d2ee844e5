//! Atomic outputs (issue 6): `convert` (both directions) and `load` are killed with SIGKILL
//! while they write; afterwards nothing exists under the output's final name(s), only hidden
//! temp files may remain, and the inputs are byte-for-byte unchanged. Then the same command
//! run to completion succeeds (a leftover temp file does not block it).
//!
//! The inputs are made large enough (≈ 96 MiB) that the write takes long enough to be caught:
//! the test polls the output directory and kills the child as soon as a temp file has data but
//! is far from complete.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
#![cfg(unix)]

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tf_bundle::write::BundleWriter;
use tf_bundle::DType;

const TENSORS: usize = 24;
const FLOATS: usize = 1 << 20; // 4 MiB per tensor, 96 MiB in all

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
}

/// A big float32 TF checkpoint `dir/big` with variables `layer{i}/W`.
fn big_checkpoint(dir: &Path) -> PathBuf {
    let prefix = dir.join("big");
    let mut w = BundleWriter::create(&prefix).unwrap();
    for i in 0..TENSORS {
        let bytes: Vec<u8> = (0..FLOATS as u32)
            .flat_map(|j| (j.wrapping_mul(2654435761) ^ i as u32).to_le_bytes())
            .collect();
        w.add_bytes(
            &format!("layer{i:02}/W"),
            DType::Float32,
            &[1024, (FLOATS / 1024) as u64],
            &bytes,
        )
        .unwrap();
    }
    w.finish().unwrap();
    prefix
}

/// name -> sha256 of every file under `dir` (recursively).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let h = hex::encode(Sha256::digest(std::fs::read(&p).unwrap()));
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), h);
            }
        }
    }
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A temp file of an atomic writer: hidden `.NAME.*.tmp`, or the bundle writer's
/// `NAME.tempstate*`.
fn is_temp(name: &str) -> bool {
    (name.starts_with('.') && name.ends_with(".tmp")) || name.contains(".tempstate")
}

/// Starts `cmd`, waits until a temp file in `out_dir` holds between 1 byte and `max_bytes`,
/// then sends SIGKILL. Returns whether the child was killed mid-write.
fn kill_mid_write(mut cmd: Command, out_dir: &Path, max_bytes: u64) -> bool {
    let log = out_dir.join(".stderr.tmp");
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "the command finished ({st}) before it could be killed: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        let writing = std::fs::read_dir(out_dir).unwrap().any(|e| {
            let e = e.unwrap();
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            let name = e.file_name().to_string_lossy().into_owned();
            name != ".stderr.tmp" && is_temp(&name) && size > 0 && size < max_bytes
        });
        if writing {
            child.kill().unwrap(); // SIGKILL
            let st = child.wait().unwrap();
            return st.signal() == Some(9);
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no temp file appeared in {}",
            out_dir.display()
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// After a kill: nothing under `finals`, only temp files in `out_dir`.
fn assert_nothing_written(out_dir: &Path, finals: &[&str]) {
    let left = names(out_dir);
    for f in finals {
        assert!(
            !out_dir.join(f).exists(),
            "{f} exists after the kill: {left:?}"
        );
    }
    for n in &left {
        assert!(is_temp(n), "a non-temp file {n} is left after the kill");
    }
}

const TOTAL: u64 = (TENSORS * FLOATS * 4) as u64;

#[test]
fn convert_to_safetensors_killed_mid_write() {
    let input = tempfile::tempdir().unwrap();
    let prefix = big_checkpoint(input.path());
    let before = snapshot(input.path());
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("big.safetensors");
    let mut cmd = bin();
    cmd.arg("convert").arg(&prefix).arg(&dest);
    assert!(
        kill_mid_write(cmd, out.path(), TOTAL / 2),
        "not killed by SIGKILL"
    );
    assert_nothing_written(out.path(), &["big.safetensors"]);
    assert_eq!(snapshot(input.path()), before, "the input changed");
    // Run to completion: the leftover temp file does not get in the way.
    let st = bin()
        .arg("convert")
        .arg(&prefix)
        .arg(&dest)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(std::fs::metadata(&dest).unwrap().len() > TOTAL);
    assert_eq!(snapshot(input.path()), before, "the input changed");
}

#[test]
fn convert_to_tf_killed_mid_write() {
    let input = tempfile::tempdir().unwrap();
    let prefix = big_checkpoint(input.path());
    let st_path = input.path().join("big.safetensors");
    let st = bin()
        .arg("convert")
        .arg(&prefix)
        .arg(&st_path)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let before = snapshot(input.path());
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("back");
    let mut cmd = bin();
    cmd.arg("convert")
        .arg(&st_path)
        .arg(&dest)
        .args(["--to", "tf"]);
    assert!(kill_mid_write(cmd, out.path(), TOTAL / 2));
    assert_nothing_written(out.path(), &["back.index", "back.data-00000-of-00001"]);
    assert_eq!(snapshot(input.path()), before, "the input changed");
}

#[test]
fn load_killed_mid_write() {
    let input = tempfile::tempdir().unwrap();
    let prefix = big_checkpoint(input.path());
    // RETURNN checks that the imported checkpoint has a .meta file (it does not read it here).
    std::fs::write(input.path().join("big.meta"), b"").unwrap();
    let config = input.path().join("returnn.config");
    std::fs::write(
        &config,
        format!(
            "#!rnn.py\ntask = \"train\"\nmodel = {:?}\nimport_model_train_epoch1 = {:?}\n",
            input.path().join("net-model/network").to_string_lossy(),
            prefix.to_string_lossy()
        ),
    )
    .unwrap();
    let before = snapshot(input.path());
    for (dest, finals) in [
        ("loaded.safetensors", vec!["loaded.safetensors"]),
        ("loaded", vec!["loaded.index", "loaded.data-00000-of-00001"]),
    ] {
        let out = tempfile::tempdir().unwrap();
        let mut cmd = bin();
        cmd.arg("load")
            .arg(&config)
            .arg("--target")
            .arg(&prefix)
            .arg("--fresh")
            .arg("--out")
            .arg(out.path().join(dest));
        assert!(kill_mid_write(cmd, out.path(), TOTAL / 2), "{dest}");
        assert_nothing_written(out.path(), &finals.iter().map(|s| &**s).collect::<Vec<_>>());
        assert_eq!(snapshot(input.path()), before, "the input changed");
    }
    // The same load, run to completion, writes every variable.
    let out = tempfile::tempdir().unwrap();
    let o = bin()
        .arg("load")
        .arg(&config)
        .arg("--target")
        .arg(&prefix)
        .arg("--fresh")
        .arg("--out")
        .arg(out.path().join("loaded.safetensors"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(names(out.path()), ["loaded.safetensors"]);
    assert_eq!(snapshot(input.path()), before, "the input changed");
}
