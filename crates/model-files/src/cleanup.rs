//! RETURNN's `cleanup_old_models` (docs/returnn-engine.md §11): which stored epochs are kept and
//! which are deleted, and exactly which files belong to a deleted epoch.
//!
//! Deviation from RETURNN, on purpose: RETURNN's TF delete globs `<path>*`, so deleting epoch
//! 100 also deletes `network.1000.*` ... `network.1009.*`. Here the files of an epoch are
//! matched by exact name: `<path>.index`, `<path>.meta` and `<path>.data-*` (TF), or
//! `<path>.pt` and `<path>.opt.pt` (Torch).

use std::collections::{BTreeMap, BTreeSet};

use returnn_config::{Config, Value};

use crate::error::{SelectError, SelectErrorKind};
use crate::fs::Fs;
use crate::lr_file::LrFile;
use crate::select::Backend;
use crate::Epoch;

/// The options of `cleanup_old_models` (a dict in the config; defaults otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupOptions {
    pub keep_last_n: i64,
    pub keep_best_n: i64,
    /// `keep`: replaces the default keep pattern when given.
    pub keep: Option<BTreeSet<Epoch>>,
    /// Keys of the options dict that RETURNN does not know (it asserts on them, but only when
    /// something is about to be deleted).
    pub unknown_keys: Vec<String>,
}

impl Default for CleanupOptions {
    fn default() -> Self {
        CleanupOptions {
            keep_last_n: 2,
            keep_best_n: 4,
            keep: None,
            unknown_keys: Vec::new(),
        }
    }
}

fn opt_err(msg: String) -> SelectError {
    SelectError::new(SelectErrorKind::CleanupOptions, msg)
}

impl CleanupOptions {
    /// Reads `cleanup_old_models` from the config: a dict gives options, anything else
    /// (absent, `True`, ...) the defaults (RETURNN's `get_of_type(..., dict, {})`).
    pub fn from_config(config: &Config) -> Result<CleanupOptions, SelectError> {
        let mut o = CleanupOptions::default();
        let Some(Value::Dict(items)) = config.get("cleanup_old_models") else {
            return Ok(o);
        };
        for (k, v) in items {
            let key = k.py_str().unwrap_or_default();
            match key.as_str() {
                "keep_last_n" | "keep_best_n" => {
                    let n = match v {
                        Value::Int(i) => *i,
                        Value::Bool(b) => i64::from(*b),
                        other => {
                            return Err(opt_err(format!(
                                "cleanup_old_models[{key:?}] must be an int, found {}",
                                other.type_name()
                            )))
                        }
                    };
                    if key == "keep_last_n" {
                        o.keep_last_n = n;
                    } else {
                        o.keep_best_n = n;
                    }
                }
                "keep" => {
                    let items = match v {
                        Value::List(x) | Value::Tuple(x) | Value::Set(x) => x,
                        other => {
                            return Err(opt_err(format!(
                            "cleanup_old_models['keep'] must be a collection of epochs, found {}",
                            other.type_name()
                        )))
                        }
                    };
                    let mut set = BTreeSet::new();
                    for x in items {
                        match x {
                            Value::Int(i) if *i >= 0 => {
                                set.insert(*i as Epoch);
                            }
                            Value::Int(_) => {}
                            other => {
                                return Err(opt_err(format!(
                                    "cleanup_old_models['keep'] must hold epochs (ints), found {}",
                                    other.type_name()
                                )))
                            }
                        }
                    }
                    o.keep = Some(set);
                }
                other => o.unknown_keys.push(other.to_string()),
            }
        }
        if o.keep_last_n < 1 || o.keep_best_n < 0 {
            return Err(opt_err(format!(
                "AssertionError: cleanup_old_models needs keep_last_n >= 1 and keep_best_n >= 0, found keep_last_n={} keep_best_n={}",
                o.keep_last_n, o.keep_best_n
            )));
        }
        Ok(o)
    }
}

/// What cleanup decides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CleanupPlan {
    /// Stored epochs (existing models).
    pub stored: Vec<Epoch>,
    pub keep: Vec<Epoch>,
    pub delete: Vec<Epoch>,
    /// The files of each deleted epoch (exact names), with their sizes.
    pub files: BTreeMap<Epoch, Vec<(String, u64)>>,
    /// RETURNN's log lines for the decision.
    pub log: Vec<String>,
}

/// The default keep pattern for the last stored epoch `n` (docs/returnn-engine.md §11 step 3).
pub fn default_keep_pattern(n: Epoch) -> BTreeSet<Epoch> {
    let (every, doubles) = if n <= 10 {
        (4, 5)
    } else if n <= 50 {
        (20, 5)
    } else if n <= 100 {
        (40, 10)
    } else {
        let x = 1 + n / 240;
        (80u64.saturating_mul(x.next_power_of_two()), 20)
    };
    let mut out = BTreeSet::new();
    let mut k = every;
    while k <= n {
        out.insert(k);
        k = match k.checked_add(every) {
            Some(v) => v,
            None => break,
        };
    }
    let mut d: Epoch = doubles;
    while d <= n {
        out.insert(d);
        d = match d.checked_mul(2) {
            Some(v) => v,
            None => break,
        };
    }
    out
}

/// Decides which epochs to keep (docs/returnn-engine.md §11). `existing` is `get_existing_models`
/// (with `for_training=False`); `lr` the learning-rate file (empty if there is none).
pub fn plan_cleanup(
    existing: &BTreeMap<Epoch, String>,
    lr: &LrFile,
    opts: &CleanupOptions,
    fs: &dyn Fs,
    backend: Backend,
) -> Result<CleanupPlan, SelectError> {
    let epochs: Vec<Epoch> = existing.keys().copied().collect();
    let mut plan = CleanupPlan {
        stored: epochs.clone(),
        ..CleanupPlan::default()
    };
    let Some(&last) = epochs.last() else {
        plan.log
            .push("Cannot cleanup models, no models found.".into());
        return Ok(plan);
    };
    let n_stored = epochs.len() as i64;
    if opts.keep_last_n.max(opts.keep_best_n) >= n_stored {
        plan.log.push(format!(
            "Only {n_stored} epochs stored so far and keeping last {} epochs and best {} epochs, thus not cleaning up any epochs yet.",
            opts.keep_last_n, opts.keep_best_n
        ));
        plan.keep = epochs;
        return Ok(plan);
    }
    let mut keep: BTreeSet<Epoch> = match &opts.keep {
        Some(k) => k.clone(),
        None => default_keep_pattern(last),
    };
    let last_n = usize::try_from(opts.keep_last_n).unwrap_or(usize::MAX);
    keep.extend(epochs.iter().rev().take(last_n));

    // Score keys: union over all epochs of the lr file (meta keys are not scores).
    let mut score_keys: BTreeSet<&str> = BTreeSet::new();
    for d in lr.epochs.values() {
        score_keys.extend(d.scores.iter().map(|(k, _)| k.as_str()));
    }
    if score_keys.is_empty() {
        return Err(SelectError::new(
            SelectErrorKind::CleanupNoScores,
            "AssertionError: cleanup_old_models needs scores from the learning-rate file, but it has none (missing file, or no epoch has a score)".to_string(),
        ));
    }
    let best_n = usize::try_from(opts.keep_best_n).unwrap_or(usize::MAX);
    for key in score_keys {
        let values: Vec<f64> = epochs
            .iter()
            .filter_map(|e| lr.epochs.get(e).and_then(|d| d.score(key)))
            .collect();
        if values.is_empty() {
            continue;
        }
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if min == max {
            plan.log.push(format!(
                "Ignoring score key {} because all epochs have the same value {}.",
                returnn_config::py_str_repr(key),
                returnn_config::py_float_repr(values[0])
            ));
            continue;
        }
        let mut ranked: Vec<(f64, Epoch)> = epochs
            .iter()
            .map(|e| {
                let v = lr.epochs.get(e).and_then(|d| d.score(key)).unwrap_or(max);
                (v, *e)
            })
            .collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        keep.extend(ranked.iter().take(best_n).map(|(_, e)| *e));
    }
    let stored: BTreeSet<Epoch> = epochs.iter().copied().collect();
    let keep: Vec<Epoch> = keep.intersection(&stored).copied().collect();
    let delete: Vec<Epoch> = epochs
        .iter()
        .copied()
        .filter(|e| !keep.contains(e))
        .collect();
    plan.keep = keep;
    if delete.is_empty() {
        plan.log.push(format!(
            "{} epochs stored so far and keeping all.",
            epochs.len()
        ));
        return Ok(plan);
    }
    let summary = if epochs.len() > 6 {
        format!(
            "[{}, {}, {}, ..., {}, {}, {}]",
            epochs[0],
            epochs[1],
            epochs[2],
            epochs[epochs.len() - 3],
            epochs[epochs.len() - 2],
            epochs[epochs.len() - 1]
        )
    } else {
        format!("{epochs:?}")
    };
    plan.log.push(format!(
        "We have stored models for epochs {summary} and keep epochs {:?}.",
        plan.keep
    ));
    plan.log
        .push(format!("We will delete the models of epochs {delete:?}."));
    if !opts.unknown_keys.is_empty() {
        return Err(opt_err(format!(
            "AssertionError: The keys {:?} were not read in cleanup_old_models (known: keep_last_n, keep_best_n, keep)",
            opts.unknown_keys
        )));
    }
    let mut listings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &delete {
        let Some(path) = existing.get(e) else {
            continue;
        };
        let dir = split_dir(path).0.to_string();
        let names = listings
            .entry(dir)
            .or_insert_with_key(|d| fs.list_dir(d).unwrap_or_default());
        let files = epoch_files_in(fs, names, path, backend);
        if backend == Backend::TensorFlow && !files.iter().any(|(f, _)| f.ends_with(".index")) {
            return Err(SelectError::new(
                SelectErrorKind::CleanupIndexMissing,
                format!(
                    "AssertionError: cannot delete epoch {e}: {path}.index does not exist (RETURNN's TF delete requires it)"
                ),
            ));
        }
        plan.files.insert(*e, files);
    }
    plan.delete = delete;
    Ok(plan)
}

/// The files that belong to the checkpoint `path` (exact names only).
pub fn epoch_files(fs: &dyn Fs, path: &str, backend: Backend) -> Vec<(String, u64)> {
    let (dir, _) = split_dir(path);
    let names = fs.list_dir(dir).unwrap_or_default();
    epoch_files_in(fs, &names, path, backend)
}

fn split_dir(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(p) => (&path[..p], &path[p + 1..]),
        None => (".", path),
    }
}

/// [`epoch_files`] with the directory already listed (`names`, any order).
fn epoch_files_in(
    fs: &dyn Fs,
    names: &[String],
    path: &str,
    backend: Backend,
) -> Vec<(String, u64)> {
    let (dir, base) = split_dir(path);
    let mut out = Vec::new();
    for name in names {
        let Some(rest) = name.strip_prefix(base) else {
            continue;
        };
        let ours = match backend {
            Backend::TensorFlow => {
                rest == ".index" || rest == ".meta" || rest.starts_with(".data-")
            }
            Backend::Torch => rest == ".pt" || rest == ".opt.pt",
        };
        if !ours {
            continue;
        }
        let full = if dir == "." && !path.starts_with("./") {
            name.clone()
        } else if dir == "/" {
            format!("/{name}")
        } else {
            format!("{dir}/{name}")
        };
        let size = fs.file_size(&full).unwrap_or(0);
        out.push((full, size));
    }
    out.sort();
    out
}

/// Deletes exactly the files of the plan through `fs`; returns bytes deleted.
/// Stops at the first file that cannot be removed.
pub fn apply_plan(plan: &CleanupPlan, fs: &dyn Fs) -> Result<u64, std::io::Error> {
    let mut total = 0u64;
    for files in plan.files.values() {
        for (f, size) in files {
            fs.remove_file(f)
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot delete {f}: {e}")))?;
            total = total.saturating_add(*size);
        }
    }
    Ok(total)
}

/// RETURNN's `human_bytes_size` (factor 1024, switch at 0.8, one decimal, `B` suffix).
pub fn human_bytes_size(n: u64) -> String {
    let post = ["", "K", "M", "G", "T"];
    let mut i = 0;
    let nf = n as f64;
    while i < post.len() - 1 && nf > 1024f64.powi(i as i32 + 1) * 0.8 {
        i += 1;
    }
    if i == 0 {
        return format!("{n}B");
    }
    format!("{:.1}{}B", nf / 1024f64.powi(i as i32), post[i])
}
