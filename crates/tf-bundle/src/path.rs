//! Resolving a user-supplied checkpoint path (docs/tf-bundle-format.md §6, §8): a prefix, any of
//! `PREFIX.index`, `PREFIX.meta`, `PREFIX.data-NNNNN-of-NNNNN`, a directory holding a TF
//! `checkpoint` state file, or a V1 file / glob pattern.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::state::CheckpointState;

/// What a path resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A V2 bundle: `prefix.index` exists.
    V2 { prefix: PathBuf },
    /// A V1 checkpoint: one table file per shard. `pattern` is the path as given (a file or a
    /// glob).
    V1 {
        pattern: PathBuf,
        files: Vec<PathBuf>,
    },
}

/// The data file of shard `shard` of `num_shards`: `PREFIX.data-%05d-of-%05d` (the one
/// definition, used by the reader and the writer).
pub fn data_file_name(prefix: &Path, shard: i64, num_shards: i64) -> PathBuf {
    with_suffix(prefix, &format!(".data-{shard:05}-of-{num_shards:05}"))
}

/// `PREFIX.index`.
pub fn index_file_name(prefix: &Path) -> PathBuf {
    with_suffix(prefix, ".index")
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// If `name` ends with `.data-NNNNN-of-NNNNN` (at least 5 digits each), the part before it.
pub fn strip_data_suffix(name: &str) -> Option<&str> {
    let (head, of) = name.rsplit_once("-of-")?;
    if of.len() < 5 || !of.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (prefix, shard) = head.rsplit_once(".data-")?;
    if shard.len() < 5 || !shard.bytes().all(|b| b.is_ascii_digit()) || prefix.is_empty() {
        return None;
    }
    Some(prefix)
}

/// The prefix a file name of a bundle implies (`X.index`, `X.meta`, `X.data-…`), if any.
pub fn prefix_of_file(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".index")
        .or_else(|| name.strip_suffix(".meta"))
        .or_else(|| strip_data_suffix(name))?;
    if stem.is_empty() {
        return None;
    }
    Some(path.with_file_name(stem))
}

fn exists_as_checkpoint(p: &Path) -> bool {
    with_suffix(p, ".index").is_file() || p.is_file()
}

/// The file names in `dir` (sorted), or none if it cannot be listed.
fn names_in(dir: &Path) -> Vec<String> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::new(),
    }
}

/// V1 shard files `NAME-NNNNN-of-NNNNN` beside `path` (TF's sharded V1 Saver writes them).
fn v1_shards_of(path: &Path) -> Vec<PathBuf> {
    let Some(base) = path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let pat = format!("{base}-?????-of-?????");
    names_in(&parent_of(path))
        .into_iter()
        .filter(|n| glob_match(pat.as_bytes(), n.as_bytes()))
        .map(|n| path.with_file_name(n))
        .filter(|p| p.is_file())
        .collect()
}

/// The V2 prefixes (`X` of an `X.index`) in `dir`.
fn prefixes_in(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter_map(|n| n.strip_suffix(".index").map(str::to_string))
        .filter(|n| !n.is_empty())
        .collect()
}

/// A list of at most 5 names, then "and N more".
fn some_names(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    let mut s = shown.join(", ");
    if names.len() > shown.len() {
        s.push_str(&format!(" and {} more", names.len() - shown.len()));
    }
    s
}

/// Whether `path` is a TF `checkpoint` state file (named `checkpoint`, parses as one).
fn is_state_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "checkpoint")
        && path.is_file()
        && std::fs::metadata(path).is_ok_and(|m| m.len() <= crate::state::MAX_STATE_FILE)
        && std::fs::read(path)
            .ok()
            .and_then(|b| CheckpointState::parse(&String::from_utf8_lossy(&b)).ok())
            .is_some()
}

/// Resolves `path` as described in the module docs. A directory's `checkpoint` state file is
/// followed like `tf.train.latest_checkpoint` (relative paths against the directory), plus
/// one convenience TF lacks: an absolute path that does not exist is retried as the same
/// file name inside the directory.
pub fn resolve(path: &Path) -> Result<Resolved> {
    resolve_noting(path).map(|(r, _)| r)
}

/// [`resolve`], plus notes on what was read instead of what was named (a `.meta` graph file
/// beside its checkpoint, the `checkpoint` state file, a stale absolute path in it). Errors
/// carry a hint where a nearly right path can be told ([`Error::hint`]).
pub fn resolve_noting(path: &Path) -> Result<(Resolved, Vec<String>)> {
    let mut notes = Vec::new();
    let r = resolve_inner(path, &mut notes)?;
    Ok((r, notes))
}

fn resolve_inner(path: &Path, notes: &mut Vec<String>) -> Result<Resolved> {
    if path.is_dir() {
        return resolve_dir(path, notes);
    }
    // A prefix comes first, as in TF: Keras names its checkpoints `checkpoint` beside the state
    // file (`checkpoint`, `checkpoint.index`, ...), which then names itself.
    if with_suffix(path, ".index").is_file() {
        return Ok(Resolved::V2 {
            prefix: path.to_path_buf(),
        });
    }
    if is_state_file(path) {
        let dir = parent_of(path);
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let r = resolve_dir(&dir, notes)?;
        notes.insert(
            0,
            format!(
                "{} is the checkpoint state file: reading {}",
                path.display(),
                resolved_name(&r).display()
            ),
        );
        return Ok(r);
    }
    if with_suffix(path, ".index").is_file() {
        return Ok(Resolved::V2 {
            prefix: path.to_path_buf(),
        });
    }
    if let Some(prefix) = prefix_of_file(path) {
        if with_suffix(&prefix, ".index").is_file() {
            return Ok(Resolved::V2 { prefix });
        }
        // `X.meta` beside a V1 checkpoint `X` (or its shards): the graph, not the values.
        if path.to_string_lossy().ends_with(".meta") {
            let files = if prefix.is_file() {
                vec![prefix.clone()]
            } else {
                v1_shards_of(&prefix)
            };
            if !files.is_empty() {
                notes.push(format!(
                    "{} is a MetaGraphDef (the graph, not the values): reading the checkpoint beside it, {}",
                    path.display(),
                    files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                return Ok(Resolved::V1 {
                    pattern: if files.len() == 1 {
                        files[0].clone()
                    } else {
                        with_suffix(&prefix, "-?????-of-?????")
                    },
                    files,
                });
            }
        }
    }
    if path.is_file() {
        return Ok(Resolved::V1 {
            pattern: path.to_path_buf(),
            files: vec![path.to_path_buf()],
        });
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.contains(['*', '?', '[']) {
        return resolve_glob(path, name);
    }
    Err(not_found(path))
}

/// What a file that is not a table (a V1 checkpoint) most likely is, from its first bytes,
/// for the hint of a "not an sstable" error: a `.meta` graph, a safetensors file, a ZIP
/// archive (PyTorch's `.pt`), a text file.
pub(crate) fn not_a_table_hint(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    let head = &head[..n];
    let name = path.file_name()?.to_string_lossy();
    if name.ends_with(".meta") {
        return Some(format!(
            "{name} is a MetaGraphDef (the graph, not the values), and no checkpoint is beside it"
        ));
    }
    if head.len() >= 9 && head[8] == b'{' {
        return Some(format!(
            "{name} is a safetensors file, not a TensorFlow checkpoint"
        ));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Some(format!(
            "{name} is a ZIP archive (as PyTorch's torch.save writes), not a TensorFlow checkpoint"
        ));
    }
    // UTF-8 (a character cut at the end of the 64 bytes is fine) without control characters.
    let utf8 = match std::str::from_utf8(head) {
        Ok(t) => Some(t),
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    let text = utf8.is_some_and(|t| {
        t.chars()
            .all(|c| !c.is_control() || c.is_ascii_whitespace())
    });
    if text && !head.is_empty() {
        return Some(format!(
            "{name} is a text file, not a TensorFlow checkpoint"
        ));
    }
    None
}

/// The name a resolution reads (for notes).
fn resolved_name(r: &Resolved) -> &Path {
    match r {
        Resolved::V2 { prefix } => prefix,
        Resolved::V1 { pattern, .. } => pattern,
    }
}

/// A directory: its `checkpoint` state file's latest checkpoint.
fn resolve_dir(path: &Path, notes: &mut Vec<String>) -> Result<Resolved> {
    let Some(state) = CheckpointState::read_dir(path)? else {
        let mut e = Error::new(ErrorKind::NoCheckpoint(
            "a directory without a TF `checkpoint` state file".into(),
        ))
        .with_path(path);
        let found = prefixes_in(path);
        if let [only] = found.as_slice() {
            e = e.with_hint(format!(
                "did you mean {}? (the checkpoint is the prefix of {only}.index)",
                path.join(only).display()
            ));
        } else if !found.is_empty() {
            e = e.with_hint(format!(
                "it holds the checkpoints {} (pass {}/PREFIX)",
                some_names(&found),
                path.display()
            ));
        }
        return Err(e);
    };
    let named = state
        .model_path_in(path)
        .map_err(|e| e.with_path(path.join("checkpoint")))?;
    let mut target = named.clone();
    // A state file copied from another machine often holds absolute paths that no longer
    // exist (RETURNN writes absolute paths); then look for the same name in this directory.
    // (TF would report "no checkpoint" here.)
    if target.is_absolute() && !exists_as_checkpoint(&target) {
        if let Some(name) = target.file_name() {
            let local = path.join(name);
            if exists_as_checkpoint(&local) {
                notes.push(format!(
                    "{} names {}, which does not exist (a stale absolute path); reading {} instead",
                    path.join("checkpoint").display(),
                    named.display(),
                    local.display()
                ));
                target = local;
            }
        }
    }
    if target.is_dir() {
        return Err(Error::new(ErrorKind::NoCheckpoint(
            "the `checkpoint` state file names a directory".into(),
        ))
        .with_path(&target));
    }
    // The state file naming itself (or another state file) without a checkpoint of that name
    // would be followed forever.
    if is_state_file(&target) && !with_suffix(&target, ".index").is_file() {
        return Err(Error::new(ErrorKind::NoCheckpoint(format!(
            "the `checkpoint` state file names {}, which is a state file itself, not a checkpoint",
            named.display()
        )))
        .with_path(path.join("checkpoint")));
    }
    resolve_inner(&target, notes).map_err(|e| e.with_path(path.join("checkpoint")))
}

/// A glob pattern: V1 files matching it.
fn resolve_glob(path: &Path, name: &str) -> Result<Resolved> {
    let dir = parent_of(path);
    let mut files = Vec::new();
    for n in names_in(&dir) {
        if glob_match(name.as_bytes(), n.as_bytes()) {
            let f = path.with_file_name(&n);
            if f.is_file() {
                files.push(f);
            }
        }
    }
    // A glob over a V2 bundle's files (PREFIX.index, PREFIX.data-*): not a V1 checkpoint.
    let v2: Vec<String> = files
        .iter()
        .filter_map(|f| prefix_of_file(f))
        .filter(|p| with_suffix(p, ".index").is_file())
        .map(|p| p.display().to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !v2.is_empty() {
        return Err(Error::new(ErrorKind::NoCheckpoint(format!(
            "the pattern matches the files of the V2 checkpoint{} {}",
            if v2.len() > 1 { "s" } else { "" },
            some_names(&v2)
        )))
        .with_path(path)
        .with_hint(format!(
            "globs are for V1 files; pass the V2 prefix itself ({})",
            v2[0]
        )));
    }
    if !files.is_empty() {
        return Ok(Resolved::V1 {
            pattern: path.to_path_buf(),
            files,
        });
    }
    Err(Error::new(ErrorKind::NoCheckpoint(
        "no file matches this pattern".into(),
    ))
    .with_path(path))
}

/// "No checkpoint" for a path that names nothing, with a hint where a nearly right name
/// exists beside it (`model.ckpt` when only `model.ckpt-1.*` exist, V1 shards
/// `export-00000-of-00001` beside `export`).
fn not_found(path: &Path) -> Error {
    let e = Error::new(ErrorKind::NoCheckpoint(format!(
        "neither {} nor a checkpoint file or directory exists",
        with_suffix(path, ".index").display()
    )))
    .with_path(path);
    let shards = v1_shards_of(path);
    if !shards.is_empty() {
        let names: Vec<String> = shards
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        return e.with_hint(format!(
            "found the V1 checkpoint file{} {} beside it: pass {}",
            if names.len() > 1 { "s" } else { "" },
            some_names(&names),
            if shards.len() == 1 {
                shards[0].display().to_string()
            } else {
                format!("'{}'", with_suffix(path, "-?????-of-?????").display())
            }
        ));
    }
    let Some(base) = path.file_name().and_then(|n| n.to_str()) else {
        return e;
    };
    let close: Vec<String> = prefixes_in(&parent_of(path))
        .into_iter()
        .filter(|p| p.starts_with(base) || base.starts_with(p.as_str()))
        .collect();
    if close.is_empty() {
        return e;
    }
    e.with_hint(format!("found {}", some_names(&close)))
}

/// Shell-style match of one file name: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
pub fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pat.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => class_match(pat, p, name[n]),
            Some(&c) if c == name[n] => Some(p + 1),
            _ => None,
        };
        match step {
            Some(np) => {
                p = np;
                n += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `pat[p] == '['`; the index after the class.
fn class_match(pat: &[u8], p: usize, c: u8) -> Option<usize> {
    let mut i = p + 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *pat.get(i)?;
        if lo == b']' && !first {
            break;
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pat[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
    (matched != negate).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_tables_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = 2u64.to_le_bytes().to_vec();
        st.extend_from_slice(b"{}");
        let rows: &[(&str, &[u8], Option<&str>)] = &[
            (
                "returnn.config",
                b"#!rnn.py\ntask = 'train'\n",
                Some("a text file"),
            ),
            (
                "cut.txt",
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\u{e4}".as_bytes(),
                Some("a text file"),
            ),
            ("m.safetensors", &st, Some("a safetensors file")),
            ("m.pt", b"PK\x03\x04\x00\x00", Some("a ZIP archive")),
            ("m.meta", b"\x0a\x02\x08\x01", Some("a MetaGraphDef")),
            ("m.bin", b"\x00\x01\x02\x03", None),
            ("empty", b"", None),
        ];
        for (name, bytes, want) in rows {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let got = not_a_table_hint(&p);
            match want {
                Some(w) => {
                    let g = got.unwrap_or_default();
                    assert!(g.starts_with(&format!("{name} is {w}")), "{name}: {g}");
                }
                None => assert_eq!(got, None, "{name}"),
            }
        }
    }

    #[test]
    fn suffixes() {
        assert_eq!(
            strip_data_suffix("m.ckpt.data-00000-of-00001"),
            Some("m.ckpt")
        );
        assert_eq!(strip_data_suffix("m.data-123456-of-200000"), Some("m"));
        assert_eq!(strip_data_suffix("m.data-0-of-1"), None);
        assert_eq!(
            prefix_of_file(Path::new("a/b/network.003.index")),
            Some(PathBuf::from("a/b/network.003"))
        );
        assert_eq!(
            prefix_of_file(Path::new("a/network.003.meta")),
            Some(PathBuf::from("a/network.003"))
        );
        assert_eq!(prefix_of_file(Path::new("a/network.003")), None);
    }

    /// Keras names the checkpoint `checkpoint` beside the state file that names it: the prefix
    /// wins, as in TF; a state file naming itself without such a checkpoint is an error (it
    /// was followed until the stack overflowed).
    #[test]
    fn a_state_file_naming_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("checkpoint");
        std::fs::write(
            &state,
            "model_checkpoint_path: \"checkpoint\"\nall_model_checkpoint_paths: \"checkpoint\"\n",
        )
        .unwrap();
        let e = resolve(tmp.path()).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::NoCheckpoint(_)), "{e}");
        assert!(resolve(&state).is_err());
        std::fs::write(tmp.path().join("checkpoint.index"), b"x").unwrap();
        for p in [tmp.path().to_path_buf(), state.clone()] {
            match resolve(&p).unwrap() {
                Resolved::V2 { prefix } => assert_eq!(prefix, state, "{}", p.display()),
                other => panic!("{}: {other:?}", p.display()),
            }
        }
    }

    #[test]
    fn stale_absolute_state_paths_fall_back_to_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("ckpt-7.index"), b"x").unwrap();
        std::fs::write(
            tmp.path().join("checkpoint"),
            "model_checkpoint_path: \"/nonexistent/elsewhere/ckpt-7\"\n",
        )
        .unwrap();
        assert_eq!(
            resolve(tmp.path()).unwrap(),
            Resolved::V2 {
                prefix: tmp.path().join("ckpt-7")
            }
        );
        std::fs::write(
            tmp.path().join("checkpoint"),
            "model_checkpoint_path: \"ckpt-8\"",
        )
        .unwrap();
        assert!(resolve(tmp.path()).is_err());
    }

    #[test]
    fn globs() {
        assert!(glob_match(
            b"model.ckpt-3-?????-of-00002",
            b"model.ckpt-3-00001-of-00002"
        ));
        assert!(!glob_match(
            b"model.ckpt-3-?????-of-00002",
            b"model.ckpt-3-0001-of-00002"
        ));
        assert!(glob_match(b"*.ckpt", b"a.ckpt"));
        assert!(glob_match(b"a[0-9]b", b"a5b"));
        assert!(!glob_match(b"a[!0-9]b", b"a5b"));
        assert!(!glob_match(b"a*", b"b"));
        assert!(glob_match(b"a*b*c", b"axxbyyc"));
    }
}
