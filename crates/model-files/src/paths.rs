//! Checkpoint file naming: `get_checkpoint_filepattern`, `model_epoch_from_filename`,
//! `epoch_model_filename` (docs/returnn-engine.md §2).

use crate::error::{SelectError, SelectErrorKind};
use crate::fs::Fs;
use crate::Epoch;

/// RETURNN's `get_checkpoint_filepattern`: strips at most one trailing suffix, trying
/// `.meta`, then `.index`, then `.pt` (case-sensitive, textual). Nothing else is stripped;
/// in particular `.data-00000-of-00001` stays.
pub fn get_checkpoint_filepattern(path: &str) -> &str {
    for ext in [".meta", ".index", ".pt"] {
        if let Some(stripped) = path.strip_suffix(ext) {
            return stripped;
        }
    }
    path
}

/// RETURNN's `epoch_model_filename`: `<model>[.pretrain].<epoch %03d>`.
/// Python's `%03d` pads to three digits and never cuts; negative numbers keep the sign inside
/// the width (`-1` gives `-01`).
pub fn epoch_model_filename(model: &str, epoch: i64, pretrain: bool) -> String {
    format!(
        "{model}{}.{}",
        if pretrain { ".pretrain" } else { "" },
        py_03d(epoch)
    )
}

/// Python's `"%03d" % n`.
pub fn py_03d(n: i64) -> String {
    if n < 0 {
        format!("-{:02}", n.unsigned_abs())
    } else {
        format!("{n:03}")
    }
}

/// The epoch RETURNN's `model_epoch_from_filename` reads from a file name.
///
/// 1. For `.meta`, then `.pt`: if `filename + ext` exists, follow it while it is a symlink
///    (raw targets, resolved against the current directory, as RETURNN does); a target not
///    ending in `ext` is RETURNN's assertion `strange? <filename>, <ext>`. Stop after the first
///    extension that exists. `.index` symlinks are never followed.
/// 2. In the basename, the last `.` followed by ASCII digits gives the epoch (the whole digit
///    run). No match gives `None`. Epoch 0 is an error (RETURNN asserts `epoch > 0`).
pub fn model_epoch_from_filename(
    fs: &dyn Fs,
    filename: &str,
) -> Result<Option<Epoch>, SelectError> {
    let mut name = filename.to_string();
    for ext in [".meta", ".pt"] {
        let with_ext = format!("{name}{ext}");
        if !fs.exists(&with_ext) {
            continue;
        }
        let mut hops = 0u32;
        loop {
            let with_ext = format!("{name}{ext}");
            if !(fs.exists(&with_ext) && fs.is_symlink(&with_ext)) {
                break;
            }
            hops += 1;
            if hops > 64 {
                // The OS would have failed `exists` on a loop already; this only bounds a
                // pathological chain.
                break;
            }
            let Some(target) = fs.read_link(&with_ext) else {
                break;
            };
            match target.strip_suffix(ext) {
                Some(t) => name = t.to_string(),
                None => {
                    return Err(SelectError::new(
                        SelectErrorKind::SymlinkWrongExtension,
                        format!(
                            "AssertionError: strange? {name}, {ext} (the symlink {with_ext} points to {target:?}, which does not end in {ext})"
                        ),
                    ))
                }
            }
        }
        break;
    }
    epoch_from_basename(&name)
}

/// Step 2 of [`model_epoch_from_filename`] alone (no filesystem): the epoch in the basename.
pub fn epoch_from_basename(filename: &str) -> Result<Option<Epoch>, SelectError> {
    let base = match filename.rfind('/') {
        Some(p) => &filename[p + 1..],
        None => filename,
    };
    // Python's `re.match(".*\.([0-9]+)")`: `.` does not match a newline.
    let base = base.split('\n').next().unwrap_or("");
    let bytes = base.as_bytes();
    let mut found: Option<(usize, usize)> = None;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let end = bytes[i + 1..]
                .iter()
                .position(|c| !c.is_ascii_digit())
                .map_or(bytes.len(), |p| i + 1 + p);
            found = Some((i + 1, end));
        }
    }
    let Some((start, end)) = found else {
        return Ok(None);
    };
    let digits = &base[start..end];
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Err(SelectError::new(
            SelectErrorKind::EpochZero,
            format!(
                "AssertionError: the file name {filename:?} gives epoch 0 (`.{digits}`); RETURNN asserts epoch > 0"
            ),
        ));
    }
    match significant.parse::<Epoch>() {
        Ok(e) => Ok(Some(e)),
        Err(_) => Err(SelectError::new(
            SelectErrorKind::EpochOverflow,
            format!(
                "the file name {filename:?} gives epoch {significant}, which does not fit in 64 bits"
            ),
        )),
    }
}
