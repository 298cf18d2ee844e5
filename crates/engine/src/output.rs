//! The output layer: the one place that decides whether an output may be written — an
//! existing output is refused unless the request says `force`, an output that is a file of an
//! input checkpoint is refused always — and the file names a TF bundle output occupies.
//! Writing itself is atomic in the sinks (`ckpt_io::AtomicFile`); [`abandon_outputs`] removes
//! every unfinished output when the process is interrupted.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// `PREFIX.index` and `PREFIX.data-00000-of-00001`: the files a bundle output writes.
pub fn bundle_files(prefix: &Path) -> Vec<PathBuf> {
    vec![
        tf_bundle::write::index_file_name(prefix),
        tf_bundle::write::data_file_name(prefix, 0, 1),
    ]
}

/// What an output path names: a file (`.safetensors`, `.pt`) or a TF bundle prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputForm {
    /// One file; the example name suggests its extension.
    File(&'static str),
    /// A TF bundle prefix (`PREFIX.index`, `PREFIX.data-00000-of-00001`).
    Prefix,
}

/// The one rule for every output: the path names a file (or prefix) in an existing directory,
/// not a directory itself, and nothing there is replaced unless `force`. `files` are the files
/// the output will occupy (one for a file, two for a bundle prefix).
pub fn check_output(out: &Path, form: OutputForm, files: &[PathBuf], force: bool) -> Result<()> {
    let shown = out.display().to_string();
    let example = match form {
        OutputForm::File(ext) => format!("{}/model{ext}", shown.trim_end_matches('/')),
        OutputForm::Prefix => format!("{}/model", shown.trim_end_matches('/')),
    };
    if shown.ends_with('/') || out.is_dir() {
        let what = match form {
            OutputForm::File(_) => "a file name",
            OutputForm::Prefix => "a checkpoint prefix (a file name without extension)",
        };
        return Err(Error::new(
            ErrorKind::Output,
            format!("{shown} is a directory: the output must be {what}"),
        )
        .with_path(out)
        .with_hint(format!("pass {example}")));
    }
    if form == OutputForm::Prefix {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file_like = [".safetensors", ".pt", ".index", ".meta"]
            .iter()
            .find(|e| name.ends_with(*e))
            .map(|e| e.to_string())
            .or_else(|| name.contains(".data-").then(|| ".data-*".to_string()));
        if let Some(ext) = file_like {
            let stem = name.split(".data-").next().unwrap_or(&name);
            let stem = stem.strip_suffix(ext.as_str()).unwrap_or(stem);
            let bundle = out.with_file_name(stem);
            return Err(Error::new(
                ErrorKind::Output,
                format!(
                    "{shown} would be the prefix of a TF bundle ({shown}.index, {shown}.data-00000-of-00001), but it ends in {ext}"
                ),
            )
            .with_path(out)
            .with_hint(format!(
                "pass a prefix without extension: {}",
                bundle.display()
            )));
        }
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Error::new(
            ErrorKind::Output,
            format!(
                "cannot write {shown}: the directory {} does not exist",
                parent.display()
            ),
        )
        .with_path(out)
        .with_hint(format!("create it first (mkdir -p {})", parent.display())));
    }
    check_new(files, force)
}

/// Deletes every unfinished output of this process (the live temp files of the atomic writers,
/// a bundle's data file whose index is not written yet) and makes every later create or commit
/// fail, for a face that ends the process on SIGINT/SIGTERM. Returns the paths deleted.
pub fn abandon_outputs() -> Vec<PathBuf> {
    ckpt_io::abandon_outputs()
}

/// Refuses to replace an existing output unless `force`.
pub fn check_new(paths: &[PathBuf], force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    if let Some(p) = paths.iter().find(|p| p.exists()) {
        return Err(
            Error::new(ErrorKind::Output, format!("{} already exists", p.display()))
                .with_path(p)
                .with_hint("pass --force to replace it"),
        );
    }
    Ok(())
}

/// True if `path` is one of the files of the checkpoint at `prefix` (`PREFIX.index`,
/// `PREFIX.meta`, `PREFIX.data-*`); `PREFIX.safetensors` is not.
pub fn is_checkpoint_file(prefix: &Path, path: &Path) -> bool {
    let (Some(dir), Some(base)) = (prefix.parent(), prefix.file_name()) else {
        return false;
    };
    let (Some(pdir), Some(pname)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let canon = |d: &Path| {
        let d = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        d.canonicalize().ok()
    };
    let (base, pname) = (base.to_string_lossy(), pname.to_string_lossy());
    let Some(rest) = pname
        .strip_prefix(base.as_ref())
        .and_then(|r| r.strip_prefix('.'))
    else {
        return false;
    };
    (rest == "index" || rest == "meta" || rest.starts_with("data-"))
        && canon(dir).is_some()
        && canon(dir) == canon(pdir)
}

/// Whether two existing paths name the same file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_files_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.ckpt");
        let d = dir.path();
        assert!(is_checkpoint_file(&p, &d.join("model.ckpt.index")));
        assert!(is_checkpoint_file(
            &p,
            &d.join("model.ckpt.data-00000-of-00001")
        ));
        assert!(is_checkpoint_file(&p, &d.join("model.ckpt.meta")));
        assert!(!is_checkpoint_file(&p, &d.join("model.ckpt.safetensors")));
        assert!(!is_checkpoint_file(&p, &d.join("model.ckpt2.index")));
        assert!(!is_checkpoint_file(&p, &d.join("other.index")));
    }

    #[test]
    fn a_prefix_with_a_file_extension_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (name, ok) in [
            ("model", true),
            ("model.ckpt", true),
            ("network.003", true),
            ("model.safetensors", false),
            ("model.pt", false),
            ("model.index", false),
            ("model.meta", false),
            ("model.data-00000-of-00001", false),
        ] {
            let out = dir.path().join(name);
            let r = check_output(&out, OutputForm::Prefix, &bundle_files(&out), false);
            assert_eq!(r.is_ok(), ok, "{name}: {r:?}");
            if let Err(e) = r {
                assert_eq!(e.kind(), ErrorKind::Output);
                let hint = e.hint().unwrap();
                assert!(hint.ends_with("/model"), "{name}: {hint}");
            }
            // As a file output the same names are fine.
            let r = check_output(
                &out,
                OutputForm::File(".safetensors"),
                std::slice::from_ref(&out),
                false,
            );
            assert!(r.is_ok(), "{name}: {r:?}");
        }
    }

    #[test]
    fn existing_outputs_need_force() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"").unwrap();
        let e = check_new(std::slice::from_ref(&f), false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Output);
        assert!(check_new(&[f], true).is_ok());
        assert!(check_new(&[dir.path().join("y")], false).is_ok());
    }
}
