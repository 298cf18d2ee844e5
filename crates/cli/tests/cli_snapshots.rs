//! Output snapshots of every documented command on the fixtures: stdout, stderr and exit code
//! of each case in `snapshots/cases.txt`, compared byte for byte with `snapshots/<name>.out`.
//!
//! This is the proof that a refactoring changes no output (issue "One library, thin faces":
//! byte-identical before and after). When an output changes on purpose, regenerate with
//! `SNAPSHOTS=overwrite cargo test -p returnn-ckpt --test cli_snapshots` and review the diff.
//!
//! Every case runs in one scratch copy of `fixtures/` (cases run in file order; outputs go to
//! `out/`), with `NO_COLOR=1` and no terminal. The scratch directory's path is replaced by
//! `<SCRATCH>` in the recorded output. A case line is
//! `NAME [@DIR] [#hash] : ARGS...` — `@DIR` runs the command in that directory of the scratch
//! copy, `#hash` records only the sha256 and line count of stdout (for very long outputs);
//! arguments are split on whitespace, with `'...'` quoting.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let t = to.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            if e.file_name() != "gen" {
                copy_dir(&p, &t);
            }
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&p).unwrap(), &t).unwrap();
        } else {
            std::fs::copy(&p, &t).unwrap();
        }
    }
}

/// Whitespace split with single-quoted words.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    assert!(!quoted, "unbalanced quote in {s:?}");
    if in_word {
        out.push(cur);
    }
    out
}

struct Case {
    name: String,
    dir: Option<String>,
    hash: bool,
    args: Vec<String>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(here().join("cases.txt")).unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, args) = line
            .split_once(" :")
            .unwrap_or_else(|| panic!("cases.txt:{}: no ' :'", i + 1));
        let mut words = head.split_whitespace();
        let name = words.next().unwrap().to_string();
        let (mut dir, mut hash) = (None, false);
        for w in words {
            if let Some(d) = w.strip_prefix('@') {
                dir = Some(d.to_string());
            } else if w == "#hash" {
                hash = true;
            } else {
                panic!("cases.txt:{}: unknown flag {w}", i + 1);
            }
        }
        out.push(Case {
            name,
            dir,
            hash,
            args: split_args(args),
        });
    }
    out
}

fn render(case: &Case, out: &std::process::Output, scratch: &str) -> String {
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(scratch, "<SCRATCH>");
    let stdout = clean(&out.stdout);
    let stdout = if case.hash {
        format!(
            "sha256 {} ({} lines)\n",
            hex::encode(Sha256::digest(stdout.as_bytes())),
            stdout.lines().count()
        )
    } else {
        stdout
    };
    format!(
        "$ returnn-ckpt {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        case.args.join(" "),
        out.status
            .code()
            .map_or_else(|| "signal".to_string(), |c| c.to_string()),
        stdout,
        clean(&out.stderr)
    )
}

#[test]
fn cli_outputs_match_their_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().canonicalize().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures"),
        &scratch,
    );
    std::fs::create_dir_all(scratch.join("out")).unwrap();
    let scratch_s = scratch.to_string_lossy().into_owned();
    let overwrite = std::env::var("SNAPSHOTS").is_ok_and(|v| v == "overwrite");
    let mut failures = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for case in cases() {
        assert!(
            names.insert(case.name.clone()),
            "duplicate case {}",
            case.name
        );
        let cwd = match &case.dir {
            Some(d) => scratch.join(d),
            None => scratch.clone(),
        };
        let out = Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
            .args(&case.args)
            .current_dir(&cwd)
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .output()
            .unwrap();
        let got = render(&case, &out, &scratch_s);
        let file = here().join(format!("{}.out", case.name));
        if overwrite {
            std::fs::write(&file, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{}: output differs\n--- want\n{want}\n--- got\n{got}",
                case.name
            )),
            Err(_) => failures.push(format!("{}: no snapshot {}", case.name, file.display())),
        }
    }
    if !overwrite {
        // Every snapshot file belongs to a case.
        for e in std::fs::read_dir(here()).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            if let Some(stem) = n.strip_suffix(".out") {
                if !names.contains(stem) {
                    failures.push(format!("{n}: snapshot without a case"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ (SNAPSHOTS=overwrite regenerates):\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}
