//! README.md's command-line examples run as shown, so the README cannot drift from the tool.
//!
//! Every ```` ```console ```` block of README.md runs in its own scratch copy of the repository's
//! `fixtures/` (the block starts in the copy's root, as a reader starts in the checkout; what
//! the examples write lands in the copy, never in the checkout). A line `$ COMMAND` runs
//! `COMMAND` with `sh -c` (`returnn-ckpt` is this build's binary; `cd DIR` moves the block's
//! working directory); the lines up to the next `$ ` are what it prints, stdout then stderr.
//! In the shown output a line `...` stands for any number of lines and `[..]` for any text
//! within a line. The exit code must be 0, unless the command's comment says `# exit N`.
//!
//! (`trycmd` runs Markdown too, but it runs a page's examples in the page's own directory or in
//! a `.in` sandbox beside it; the examples here need a scratch copy of `fixtures/` and a `cd`
//! that lasts for the block, which these ~150 lines give.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One `$ ` command of a block: its text, the expected exit code and the shown output.
#[derive(Debug)]
struct Step {
    line: usize,
    command: String,
    exit: i32,
    shown: Vec<String>,
}

/// The ```` ```console ```` blocks of a Markdown text: (first line number, steps).
fn console_blocks(text: &str) -> Vec<(usize, Vec<Step>)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, Vec<Step>)> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        match &mut current {
            None => {
                if line.trim_end() == "```console" {
                    current = Some((n, Vec::new()));
                }
            }
            Some((_, steps)) => {
                if line.trim_end() == "```" {
                    blocks.push(current.take().unwrap());
                } else if let Some(cmd) = line.strip_prefix("$ ") {
                    steps.push(Step {
                        line: n,
                        command: cmd.to_string(),
                        exit: expected_exit(cmd),
                        shown: Vec::new(),
                    });
                } else {
                    let step = steps
                        .last_mut()
                        .unwrap_or_else(|| panic!("README.md:{n}: output before the first `$ `"));
                    step.shown.push(line.to_string());
                }
            }
        }
    }
    assert!(current.is_none(), "README.md: unclosed ```console block");
    blocks
}

/// `# exit N` in the command's comment, else 0.
fn expected_exit(cmd: &str) -> i32 {
    let Some((_, comment)) = cmd.split_once(" #") else {
        return 0;
    };
    let Some(rest) = comment.split("exit ").nth(1) else {
        return 0;
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().unwrap_or(0)
}

/// A shown line against an actual line: `[..]` matches any text.
fn line_matches(shown: &str, actual: &str) -> bool {
    let parts: Vec<&str> = shown.split("[..]").collect();
    if parts.len() == 1 {
        return shown == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &actual[first.len()..];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The shown lines against the actual ones: `...` matches any number of lines.
fn lines_match(shown: &[String], actual: &[&str]) -> bool {
    match shown.first() {
        None => actual.is_empty(),
        Some(s) if s == "..." => {
            (0..=actual.len()).any(|skip| lines_match(&shown[1..], &actual[skip..]))
        }
        Some(s) => {
            !actual.is_empty()
                && line_matches(s, actual[0])
                && lines_match(&shown[1..], &actual[1..])
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ty = e.file_type().unwrap();
        let dest = to.join(e.file_name());
        if ty.is_dir() {
            if e.file_name() != "gen" {
                copy_dir(&e.path(), &dest);
            }
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn readme_console_examples_print_what_they_show() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let blocks = console_blocks(&text);
    assert!(
        blocks.len() >= 5,
        "README.md has {} console blocks",
        blocks.len()
    );
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_returnn-ckpt"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    for (start, steps) in &blocks {
        let scratch = tempfile::tempdir().unwrap();
        copy_dir(&root().join("fixtures"), &scratch.path().join("fixtures"));
        let mut cwd = scratch.path().to_path_buf();
        for step in steps {
            if let Some(dir) = step.command.strip_prefix("cd ") {
                let dir = dir.split(" #").next().unwrap().trim();
                cwd = cwd.join(dir);
                assert!(cwd.is_dir(), "README.md:{}: no directory {dir}", step.line);
                continue;
            }
            let out = Command::new("sh")
                .arg("-c")
                .arg(&step.command)
                .current_dir(&cwd)
                .env("PATH", &path)
                .env("NO_COLOR", "1")
                .env_remove("CLICOLOR_FORCE")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let all = format!("{stdout}{stderr}");
            let actual: Vec<&str> = all.lines().collect();
            let code = out.status.code().unwrap_or(-1);
            if code != step.exit || !lines_match(&step.shown, &actual) {
                failures.push(format!(
                    "README.md:{} (block at line {start}): $ {}\n  exit {code} (shown: {})\n--- shown\n{}\n--- printed\n{all}",
                    step.line,
                    step.command,
                    step.exit,
                    step.shown.join("\n")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A plain ```` ``` ```` block of README.md quotes a file of the repository: the last
/// `` `examples/...` `` path named before it must contain the block verbatim.
#[test]
fn readme_excerpts_are_verbatim() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut named: Option<String> = None;
    // (language, lines) of the open fenced block
    let mut block: Option<(&str, Vec<&str>)> = None;
    let mut checked = 0;
    for line in text.lines() {
        match &mut block {
            Some((lang, _)) if line == "```" && !lang.is_empty() => block = None,
            Some((_, lines)) if line == "```" => {
                let file = named.clone().expect(
                    "README.md: a plain ``` block must follow the `examples/...` file it quotes",
                );
                let body = std::fs::read_to_string(root().join(&file)).unwrap();
                let excerpt = lines.join("\n");
                assert!(
                    body.contains(&excerpt),
                    "README.md quotes {file}, which does not contain:\n{excerpt}"
                );
                checked += 1;
                block = None;
            }
            Some((_, lines)) => lines.push(line),
            None if line.starts_with("```") => block = Some((&line[3..], Vec::new())),
            None => {
                if let Some(i) = line.find("`examples/") {
                    let rest = &line[i + 1..];
                    named = rest.split('`').next().map(str::to_string);
                }
            }
        }
    }
    assert!(checked >= 1, "README.md quotes no example file");
}

#[test]
fn the_matcher_can_fail() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(lines_match(&s(&["a", "...", "c"]), &["a", "b", "b", "c"]));
    assert!(lines_match(&s(&["a", "...", "c"]), &["a", "c"]));
    assert!(!lines_match(&s(&["a", "...", "c"]), &["a", "b"]));
    assert!(!lines_match(&s(&["a"]), &["a", "b"]));
    assert!(lines_match(&s(&["x [..] z"]), &["x y y z"]));
    assert!(!lines_match(&s(&["x [..] z"]), &["x y y"]));
    assert!(lines_match(&s(&["[..]ok"]), &["path: ok"]));
    assert!(!lines_match(&s(&["a[..]a"]), &["a"]));
    assert_eq!(
        expected_exit("returnn-ckpt diff a b   # exit 1: they differ"),
        1
    );
    assert_eq!(expected_exit("returnn-ckpt inspect x"), 0);
    let blocks = console_blocks("```console\n$ a\nout\n$ b # exit 2\n```\n```sh\n$ c\n```\n");
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].1.len(), 2);
    assert_eq!(blocks[0].1[1].exit, 2);
    assert_eq!(blocks[0].1[0].shown, vec!["out"]);
}
