//! Reading a RETURNN config for a job: the file (or a dict from Python) read as RETURNN started
//! in the request's base directory would read it, then `++key value` overrides.

use std::path::PathBuf;

use returnn_config::{Config, ConfigFormat};
use serde::Serialize;

use crate::error::{Error, Result};

/// Where the config comes from.
#[derive(Clone, Debug)]
pub enum ConfigInput {
    /// A config file (Python `#!`/`.py`, JSON, or line-based). A relative path is relative to
    /// the process's directory as given by the face (the CLI's current directory, Python's
    /// `os.getcwd()`); it is not joined to the base directory.
    File(PathBuf),
    /// Config text (e.g. a Python dict serialised as JSON by a face), named `filename` in
    /// messages.
    Text { text: String, filename: String },
}

/// The config part of every config-based request.
#[derive(Clone, Debug)]
pub struct ConfigRequest {
    pub config: ConfigInput,
    /// `++key value` pairs, as on RETURNN's command line.
    pub overrides: Vec<String>,
    /// RETURNN's working directory (see [`crate::paths`]).
    pub base_dir: PathBuf,
}

impl ConfigRequest {
    /// A config file with overrides, in `base_dir`.
    pub fn file(
        path: impl Into<PathBuf>,
        overrides: Vec<String>,
        base_dir: impl Into<PathBuf>,
    ) -> Self {
        ConfigRequest {
            config: ConfigInput::File(path.into()),
            overrides,
            base_dir: base_dir.into(),
        }
    }
}

/// A statement of a Python config that was not evaluated (imports, defs, computed values).
#[derive(Clone, Debug, Serialize)]
pub struct SkippedStatement {
    pub file: PathBuf,
    pub line: usize,
    pub what: String,
    /// The names it binds (reading them is a "not supported" error).
    pub names: Vec<String>,
}

/// A loaded config and what was noticed while reading it.
#[derive(Debug)]
pub struct LoadedConfig {
    pub config: Config,
    /// The main file (None for text input).
    pub path: Option<PathBuf>,
    /// "Python", "JSON" or "line-based".
    pub form: &'static str,
    pub skipped: Vec<SkippedStatement>,
    /// What RETURNN would warn about while reading (e.g. an override kept as a string).
    pub warnings: Vec<String>,
    /// RETURNN's working directory of the request.
    pub base_dir: PathBuf,
}

fn form_name(f: ConfigFormat) -> &'static str {
    match f {
        ConfigFormat::Python => "Python",
        ConfigFormat::Json => "JSON",
        ConfigFormat::Lines => "line-based",
    }
}

/// Loads the config of `req` and applies its overrides.
pub fn load(req: &ConfigRequest) -> Result<LoadedConfig> {
    load_inner(req).map_err(Error::from)
}

/// [`load`], with config errors worded as [`with_python_exception`] does.
pub fn load_for_selection(req: &ConfigRequest) -> Result<LoadedConfig> {
    load_inner(req).map_err(with_python_exception)
}

fn load_inner(req: &ConfigRequest) -> std::result::Result<LoadedConfig, returnn_config::Error> {
    let (mut config, path, form) = match &req.config {
        ConfigInput::File(p) => {
            let c = Config::load_in(&req.base_dir, p)?;
            let text = std::fs::read_to_string(crate::paths::resolve(&req.base_dir, p))
                .unwrap_or_default();
            let form = form_name(ConfigFormat::detect(&text, &p.to_string_lossy()));
            (c, Some(p.clone()), form)
        }
        ConfigInput::Text { text, filename } => {
            let c = Config::from_text(text, filename)?;
            (c, None, form_name(ConfigFormat::detect(text, filename)))
        }
    };
    config.apply_overrides(&req.overrides)?;
    let skipped = config
        .skipped()
        .iter()
        .map(|(file, s)| SkippedStatement {
            file: file.clone(),
            line: s.line,
            what: s.what.clone(),
            names: s.names.clone(),
        })
        .collect();
    let warnings = config.warnings().to_vec();
    Ok(LoadedConfig {
        config,
        path,
        form,
        skipped,
        warnings,
        base_dir: req.base_dir.clone(),
    })
}

/// A config error as the model-selection commands report it: the message starts with the
/// Python exception RETURNN raises (`NameError: ...`), like the selection errors, unless it
/// is one of our own "not supported" errors.
pub fn with_python_exception(e: returnn_config::Error) -> Error {
    let exc = e.kind().python_exception();
    let msg = e.to_string();
    let message = if msg.starts_with("not supported") || msg.starts_with(exc) {
        msg
    } else {
        format!("{exc}: {msg}")
    };
    Error::from(e).map_message(|_| message)
}

/// A note when the config's models are not where RETURNN would look but beside the config:
/// RETURNN resolves `model` against the directory it runs in (the request's base directory),
/// so a config run from elsewhere finds nothing — correct, but rarely what is meant.
pub fn models_beside_config_note(loaded: &LoadedConfig) -> Option<String> {
    let model = loaded.config.value("model", None).ok()??;
    if model.is_empty() || std::path::Path::new(&model).is_absolute() {
        return None;
    }
    let config_dir = loaded.path.as_ref()?.parent()?;
    let config_dir = if config_dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        config_dir
    };
    let here = crate::paths::resolve(&loaded.base_dir, ".");
    if same_dir(config_dir, &here) {
        return None;
    }
    let has_models = |dir: &std::path::Path| {
        let m = dir.join(&model);
        let (Some(parent), Some(base)) = (m.parent(), m.file_name()) else {
            return false;
        };
        let base = format!("{}.", base.to_string_lossy());
        std::fs::read_dir(parent).is_ok_and(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(&base))
        })
    };
    if has_models(&here) || !has_models(config_dir) {
        return None;
    }
    Some(format!(
        "no models at {model} here, but there are some at {}/{model}.*: RETURNN looks for `model` in the directory it runs in; pass -C {} to run there",
        config_dir.display(),
        config_dir.display()
    ))
}

fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Keys RETURNN reads only as a typed value set by a Python config (`typed_value`,
/// `get_of_type`), and what it expects there. Given as text (a `++key value` override for a
/// key the config file does not set, or a line-based config), RETURNN ignores them silently.
const TYPED_ONLY: &[(&str, &str)] = &[
    (
        "cleanup_old_models",
        "dict (its options; as text only its truthiness counts)",
    ),
    ("preload_from_files", "dict"),
    ("network", "dict"),
    ("get_model", "function"),
];

/// Notes for the keys of [`TYPED_ONLY`] that are set only as text: RETURNN ignores them, and
/// the user probably did not mean that.
pub fn ignored_override_notes(loaded: &LoadedConfig) -> Vec<String> {
    let c = &loaded.config;
    TYPED_ONLY
        .iter()
        .filter(|(k, _)| !c.is_typed(k))
        .filter_map(|(k, what)| {
            let text = c.get_text(k)?.join(",");
            Some(format!(
                "{k} is the string '{text}' (a `++{k}` override is a string unless the config file sets {k} itself): RETURNN reads {k} only as a {what} and ignores this value; set it in the config file"
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(text: &str, overrides: &[&str]) -> LoadedConfig {
        let req = ConfigRequest {
            config: ConfigInput::Text {
                text: text.to_string(),
                filename: "returnn.config".to_string(),
            },
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            base_dir: PathBuf::new(),
        };
        load(&req).unwrap()
    }

    /// Which text values RETURNN ignores: one row per case (config, overrides, keys noted).
    #[test]
    fn ignored_overrides_are_noted() {
        let py = "#!rnn.py\nmodel = 'net-model/network'\n";
        let py_with =
            "#!rnn.py\ncleanup_old_models = {'keep_last_n': 3}\npreload_from_files = {}\n";
        let rows: &[(&str, &[&str], &[&str])] = &[
            (py, &[], &[]),
            (
                py,
                &["++cleanup_old_models", "{'keep_last_n': 1}"],
                &["cleanup_old_models"],
            ),
            (
                py,
                &["++preload_from_files", "{}", "++network", "{}"],
                &["preload_from_files", "network"],
            ),
            (py, &["++get_model", "x"], &["get_model"]),
            (py, &["++learning_rate_file", "lr.data"], &[]),
            // The config file types the key: the override is evaluated as a literal and used.
            (
                py_with,
                &["++cleanup_old_models", "{'keep_last_n': 1}"],
                &[],
            ),
            (
                py_with,
                &["++preload_from_files", "{'a': {'filename': 'x'}}"],
                &[],
            ),
            // A line-based config cannot give a dict either.
            (
                "cleanup_old_models {'keep_last_n':1}\n",
                &[],
                &["cleanup_old_models"],
            ),
        ];
        for (text, overrides, want) in rows {
            let notes = ignored_override_notes(&loaded(text, overrides));
            let got: Vec<&str> = notes.iter().map(|n| n.split(' ').next().unwrap()).collect();
            let mut want = want.to_vec();
            want.sort();
            let mut got_sorted = got.clone();
            got_sorted.sort();
            assert_eq!(got_sorted, want, "{text:?} {overrides:?}: {notes:?}");
            for n in &notes {
                assert!(
                    n.contains("RETURNN reads") && n.contains("ignores this value"),
                    "{n}"
                );
            }
        }
    }
}
