//! Tidy checks over the source tree (in the manner of rust-analyzer's `xtask/src/tidy.rs`):
//! the architecture invariants of ARCHITECTURE.md that a text scan can check. Each check lists
//! every offending `file:line`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The faces: crates that may print and exit (everything else under `crates/` is a library).
const FACES: &[&str] = &["cli", "python"];

/// Files that may contain `unsafe` (the memory-map opt-in), and why.
const UNSAFE_ALLOWED: &[(&str, &str)] = &[
    (
        "crates/ckpt-io/src/read.rs",
        "memmap2::Mmap::map, behind the `mmap` feature (an explicit opt-in)",
    ),
    (
        "crates/python/src/array.rs",
        "numpy borrows a memory-mapped tensor (mmap=True): a read-only view whose base object keeps the map alive",
    ),
];

fn crates() -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").exists())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    v.sort();
    v
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root())
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

/// The code part of a line (without a `//` comment; string contents are kept, which is
/// conservative for the checks below).
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// Lines that are test code: from a `#[cfg(test)]` onward (by convention test modules sit at
/// the end of a file).
fn non_test_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| !l.trim_start().starts_with("#[cfg(test)]"))
}

fn assert_none(what: &str, found: Vec<String>) {
    assert!(found.is_empty(), "tidy: {what}:\n  {}", found.join("\n  "));
}

#[test]
fn every_crate_root_says_what_it_owns() {
    let mut found = Vec::new();
    for (_, dir) in crates() {
        for root_file in ["src/lib.rs", "src/main.rs"] {
            let p = dir.join(root_file);
            if let Ok(text) = std::fs::read_to_string(&p) {
                if !text.starts_with("//! ") {
                    found.push(format!("{}: no `//!` crate doc at the top", rel(&p)));
                }
            }
        }
    }
    assert_none("crate roots without a doc comment", found);
}

#[test]
fn every_crate_uses_the_workspace_lints() {
    let mut found = Vec::new();
    let mut manifests: Vec<PathBuf> = crates()
        .into_iter()
        .map(|(_, d)| d.join("Cargo.toml"))
        .collect();
    manifests.push(root().join("xtask/Cargo.toml"));
    for m in manifests {
        let text = std::fs::read_to_string(&m).unwrap();
        if !text.contains("[lints]\nworkspace = true") {
            found.push(format!("{}: no `[lints] workspace = true`", rel(&m)));
        }
    }
    assert_none("crates outside the workspace lint policy", found);
}

#[test]
fn unsafe_only_where_allowed() {
    let mut found = Vec::new();
    for (_, dir) in crates() {
        for f in rust_files(&dir.join("src")) {
            let r = rel(&f);
            let text = std::fs::read_to_string(&f).unwrap();
            for (i, line) in text.lines().enumerate() {
                let c = code(line);
                let is_unsafe = ["unsafe {", "unsafe fn", "unsafe impl", "unsafe extern"]
                    .iter()
                    .any(|u| c.contains(u))
                    || c.contains("allow(unsafe_code)");
                if is_unsafe && !UNSAFE_ALLOWED.iter().any(|(p, _)| *p == r) {
                    found.push(format!("{r}:{}: {}", i + 1, line.trim()));
                }
            }
        }
    }
    assert_none("unsafe code outside the allow-list", found);
}

#[test]
fn libraries_never_print_exit_or_touch_the_cwd() {
    let forbidden = [
        "println!",
        "eprintln!",
        "print!(",
        "eprint!(",
        "dbg!(",
        "std::process::exit",
        "set_current_dir",
        "current_dir()",
    ];
    let mut found = Vec::new();
    for (name, dir) in crates() {
        if FACES.contains(&name.as_str()) {
            continue;
        }
        for f in rust_files(&dir.join("src")) {
            let text = std::fs::read_to_string(&f).unwrap();
            for (i, line) in non_test_lines(&text) {
                let c = code(line);
                if let Some(bad) = forbidden.iter().find(|b| c.contains(*b)) {
                    found.push(format!("{}:{}: {bad}", rel(&f), i + 1));
                }
            }
        }
    }
    assert_none(
        "library code that prints, exits or uses the process cwd",
        found,
    );
}

#[test]
fn the_cli_is_a_thin_face() {
    // Its dependencies: the library layer and the face's own tools only.
    let manifest = std::fs::read_to_string(root().join("crates/cli/Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    let allowed = [
        "engine",
        "clap",
        "serde",
        "serde_json",
        "anyhow",
        "indicatif",
        "signal-hook",
        "mimalloc",
    ];
    let mut found = Vec::new();
    for line in deps.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split(['=', '.', ' ']).next().unwrap_or("");
        if !allowed.contains(&name) {
            found.push(format!("crates/cli/Cargo.toml: dependency `{name}`"));
        }
    }
    // No subcommand uses another.
    for f in rust_files(&root().join("crates/cli/src/cmd")) {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let c = code(line);
            let test_glob = c.trim() == "use super::*;";
            if (c.contains("super::") && !test_glob) || c.contains("crate::cmd::") {
                found.push(format!("{}:{}: {}", rel(&f), i + 1, line.trim()));
            }
        }
    }
    assert_none("the CLI reaches past the library layer", found);
}

#[test]
fn architecture_md_names_every_crate() {
    let arch = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut found = Vec::new();
    for (name, _) in crates() {
        if !arch.contains(&format!("crates/{name}")) {
            found.push(format!("ARCHITECTURE.md: no section for crates/{name}"));
        }
    }
    assert_none("ARCHITECTURE.md is out of date", found);
}
