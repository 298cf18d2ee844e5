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

/// Resolves `path` as described in the module docs. A directory's `checkpoint` state file is
/// followed like `tf.train.latest_checkpoint` (relative paths against the directory), plus
/// one convenience TF lacks: an absolute path that does not exist is retried as the same
/// file name inside the directory.
pub fn resolve(path: &Path) -> Result<Resolved> {
    if path.is_dir() {
        let state = CheckpointState::read_dir(path)?.ok_or_else(|| {
            Error::new(ErrorKind::NoCheckpoint(
                "a directory without a TF `checkpoint` state file".into(),
            ))
            .with_path(path)
        })?;
        let mut target = state
            .model_path_in(path)
            .map_err(|e| e.with_path(path.join("checkpoint")))?;
        // A state file copied from another machine often holds absolute paths that no longer
        // exist (RETURNN writes absolute paths); then look for the same name in this
        // directory. (TF would report "no checkpoint" here.)
        if target.is_absolute() && !exists_as_checkpoint(&target) {
            if let Some(name) = target.file_name() {
                let local = path.join(name);
                if exists_as_checkpoint(&local) {
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
        return resolve(&target).map_err(|e| e.with_path(path.join("checkpoint")));
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
    }
    if path.is_file() {
        return Ok(Resolved::V1 {
            pattern: path.to_path_buf(),
            files: vec![path.to_path_buf()],
        });
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.contains(['*', '?', '[']) {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut files = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if let Some(n) = e.file_name().to_str() {
                    if glob_match(name.as_bytes(), n.as_bytes()) && e.path().is_file() {
                        files.push(path.with_file_name(n));
                    }
                }
            }
        }
        files.sort();
        if !files.is_empty() {
            return Ok(Resolved::V1 {
                pattern: path.to_path_buf(),
                files,
            });
        }
        return Err(Error::new(ErrorKind::NoCheckpoint(
            "no file matches this pattern".into(),
        ))
        .with_path(path));
    }
    Err(Error::new(ErrorKind::NoCheckpoint(format!(
        "neither {} nor a checkpoint file or directory exists",
        with_suffix(path, ".index").display()
    )))
    .with_path(path))
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
