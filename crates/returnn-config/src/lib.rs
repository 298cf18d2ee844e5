//! # returnn-config
//!
//! Owns reading RETURNN configs: Python config files (top-level literal assignments, through a
//! real Python parser), JSON configs, the old line-based `key value` form, and `++key value`
//! command-line overrides, all into typed values read back the way RETURNN's `Config` does
//! (`value`, `int`, `bool`, `has`). No other crate parses config text. It never touches model
//! files, never executes Python, never prints and never exits.
//!
//! ## Model (mirrors RETURNN's `returnn.config.Config`)
//!
//! RETURNN keeps two dicts: `typed_dict` (values set by a Python or JSON config, or by `set`)
//! and `dict` (lists of strings from line-based configs and `++key value` pairs for keys that
//! are not typed). [`Config::get`] is RETURNN's `typed_value` (typed keys only);
//! [`Config::get_text`] gives the string list of an untyped key; [`Config::value`],
//! [`Config::int`], [`Config::bool`] and [`Config::has`] read both, with RETURNN's rules.
//!
//! ## Reading the config while it runs, and the command line
//!
//! RETURNN `exec`s a Python config with the config's `typed_dict` as globals and `config`
//! bound to the config object, and `init_config` applies the command line before *and* after
//! loading the files. So `task = config.value("task", "train")` sees `++task eval`: calls of
//! the config's own readers (`value`, `typed_value`, `opt_typed_value`, `int`, `bool`,
//! `float`, `is_true`, `has`, `is_typed`, `list`) with literal arguments are evaluated at that
//! statement (module `exec_api`), and [`Config::apply_overrides`] on a freshly loaded config
//! (or [`Config::init`]) replays RETURNN's two passes. Command lines take RETURNN's optparse
//! options too (`--task eval`, `-x eval`, `--config FILE`; module [`cmdline`]).
//!
//! ## Deviations from the cross-crate contract (documented here, as agreed)
//!
//! * `Config::from_str(text, kind_hint)` is [`Config::from_text`]`(text, filename)`: the file
//!   name plays the role of the hint exactly as in RETURNN (a name ending in `.py` is Python).
//! * [`Config::value`] returns `Result<Option<String>, Error>`: a non-literal value
//!   (`Value::Unsupported`) cannot be turned into a string and is an error, not a guess.
//! * [`Value`] has one more variant, `Set`, for Python set literals.

pub mod cmdline;
mod exec_api;
mod json;
pub mod python;
pub mod value;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use cmdline::{CmdStep, CommandLine};
pub use python::Skipped;
pub use value::{py_float_repr, py_int_from_str, py_str_repr, Value};

/// How deep `include` may nest (RETURNN has no limit; a cycle would recurse forever).
const MAX_INCLUDE_DEPTH: usize = 32;
/// Largest config file we read (a config is text; this bounds the allocation).
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// The three config forms RETURNN accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// Starts with `#!` (after stripping whitespace) or the file name ends in `.py`.
    Python,
    /// Otherwise starts with `{`.
    Json,
    /// Anything else: `key value` lines.
    Lines,
}

impl ConfigFormat {
    /// Tells the forms apart exactly as RETURNN's `Config.load_file` does.
    pub fn detect(text: &str, filename: &str) -> ConfigFormat {
        let t = text.trim();
        if t.starts_with("#!") || filename.ends_with(".py") {
            ConfigFormat::Python
        } else if t.starts_with('{') {
            ConfigFormat::Json
        } else {
            ConfigFormat::Lines
        }
    }
}

/// What went wrong; each kind has a stable snake_case label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The config file (or an `include`d one) could not be read.
    Io,
    /// The config file (or an `include`d one) is not an existing file (RETURNN's
    /// `AssertionError: config file not found`).
    NotFound,
    /// Python syntax error (RETURNN: `SyntaxError` from `exec`), with the 1-based line.
    Syntax { line: usize },
    /// Invalid JSON, or JSON that is not an object.
    Json,
    /// A line-based config line without a value (`unable to parse config line`).
    LineFormat,
    /// Malformed `++key value` arguments.
    Override,
    /// A `++` value for a typed key names an undefined Python name (RETURNN: `NameError`).
    NameError,
    /// Typed value is not an `int` (RETURNN: `AssertionError` in `config.int`).
    NotInt,
    /// A string value that Python's `int()` rejects (RETURNN: `ValueError`).
    InvalidInt,
    /// Typed value is not a `bool`/`int` (RETURNN: `AssertionError` in `config.bool`).
    NotBool,
    /// A string value `to_bool` rejects (RETURNN: `ValueError`).
    InvalidBool,
    /// Indexing an empty typed list (RETURNN: `IndexError`).
    Index,
    /// The value is not a literal (computed in the Python config), so it cannot be read.
    Unsupported,
    /// `include` nested too deep (probably a cycle).
    IncludeDepth,
}

impl ErrorKind {
    /// Every kind (for the test that lists every label).
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Io,
        ErrorKind::NotFound,
        ErrorKind::Syntax { line: 0 },
        ErrorKind::Json,
        ErrorKind::LineFormat,
        ErrorKind::Override,
        ErrorKind::NameError,
        ErrorKind::NotInt,
        ErrorKind::InvalidInt,
        ErrorKind::NotBool,
        ErrorKind::InvalidBool,
        ErrorKind::Index,
        ErrorKind::Unsupported,
        ErrorKind::IncludeDepth,
    ];

    /// Stable snake_case label.
    pub fn label(&self) -> &'static str {
        match self {
            ErrorKind::Io => "config_io",
            ErrorKind::NotFound => "config_not_found",
            ErrorKind::Syntax { .. } => "config_syntax",
            ErrorKind::Json => "config_json",
            ErrorKind::LineFormat => "config_line_format",
            ErrorKind::Override => "config_override",
            ErrorKind::NameError => "config_name_error",
            ErrorKind::NotInt => "config_not_int",
            ErrorKind::InvalidInt => "config_invalid_int",
            ErrorKind::NotBool => "config_not_bool",
            ErrorKind::InvalidBool => "config_invalid_bool",
            ErrorKind::Index => "config_index",
            ErrorKind::Unsupported => "config_unsupported",
            ErrorKind::IncludeDepth => "config_include_depth",
        }
    }

    /// The Python exception RETURNN raises in this situation (for messages).
    pub fn python_exception(&self) -> &'static str {
        match self {
            ErrorKind::Io => "OSError",
            ErrorKind::NotFound => "AssertionError",
            ErrorKind::Syntax { .. } => "SyntaxError",
            ErrorKind::Json => "JSONDecodeError",
            ErrorKind::LineFormat | ErrorKind::Override => "AssertionError",
            ErrorKind::NameError => "NameError",
            ErrorKind::NotInt | ErrorKind::NotBool => "AssertionError",
            ErrorKind::InvalidInt | ErrorKind::InvalidBool => "ValueError",
            ErrorKind::Index => "IndexError",
            ErrorKind::Unsupported => "NotSupported",
            ErrorKind::IncludeDepth => "RecursionError",
        }
    }
}

/// A config error: names the file and/or key and says what was expected versus found.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    file: Option<PathBuf>,
    key: Option<String>,
    message: String,
}

impl Error {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            file: None,
            key: None,
            message: message.into(),
        }
    }
    fn with_file(mut self, file: impl Into<PathBuf>) -> Error {
        self.file = Some(file.into());
        self
    }
    fn with_key(mut self, key: &str) -> Error {
        self.key = Some(key.to_string());
        self
    }
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
    /// The bare message (without the Python exception name).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A RETURNN config: typed values plus untyped string lists.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// RETURNN's working directory: relative `include`s (and a relative main file given to
    /// [`Config::load_in`]) are read from here. Empty: left relative for the OS to resolve.
    base: PathBuf,
    typed: BTreeMap<String, Value>,
    text: BTreeMap<String, Vec<String>>,
    files: Vec<PathBuf>,
    skipped: Vec<(PathBuf, Skipped)>,
    warnings: Vec<String>,
    /// The top-level sources loaded so far (file path if any, text, file name), while nothing
    /// else has changed the config: [`Config::apply_overrides`] then rebuilds the config the
    /// way RETURNN's `init_config` does (command line, files, command line).
    replay: Option<Vec<(Option<PathBuf>, String, String)>>,
}

impl Config {
    /// An empty config.
    pub fn new() -> Config {
        Config {
            replay: Some(Vec::new()),
            ..Config::default()
        }
    }

    /// Loads a config file (Python, JSON or line-based, told apart as RETURNN does). Relative
    /// paths (the file, its `include`s) are left to the OS; see [`Config::load_in`].
    pub fn load(path: &Path) -> Result<Config, Error> {
        Config::load_in(Path::new(""), path)
    }

    /// Loads a config file as RETURNN started in `base` would: a relative `path` and relative
    /// `include`s (in the file or in later overrides) are read from `base`, and shown as given.
    pub fn load_in(base: &Path, path: &Path) -> Result<Config, Error> {
        let mut c = Config::new();
        c.base = base.to_path_buf();
        c.load_file(path)?;
        Ok(c)
    }

    /// `path` joined to the working directory unless absolute (what is given to the OS).
    fn fs_path(&self, path: &Path) -> PathBuf {
        if self.base.as_os_str().is_empty() || path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    /// Parses config text; `filename` is used to recognise `.py` and in messages.
    pub fn from_text(text: &str, filename: &str) -> Result<Config, Error> {
        let mut c = Config::new();
        c.load_text(text, filename, 0)?;
        if let Some(r) = &mut c.replay {
            r.push((None, text.to_string(), filename.to_string()));
        }
        Ok(c)
    }

    /// Loads one more file into this config (later values override earlier ones).
    pub fn load_file(&mut self, path: &Path) -> Result<(), Error> {
        let replay = self.replay.take();
        let text = self.read_config_file(path, 0)?;
        self.files.push(path.to_path_buf());
        self.load_text(&text, &path.to_string_lossy(), 0)?;
        if let Some(mut r) = replay {
            r.push((
                Some(path.to_path_buf()),
                text,
                path.to_string_lossy().into_owned(),
            ));
            self.replay = Some(r);
        }
        Ok(())
    }

    fn load_file_depth(&mut self, path: &Path, depth: usize) -> Result<(), Error> {
        let text = self.read_config_file(path, depth)?;
        self.files.push(path.to_path_buf());
        self.load_text(&text, &path.to_string_lossy(), depth)
    }

    /// Checks the include depth and that `path` is a file, and reads it.
    fn read_config_file(&self, path: &Path, depth: usize) -> Result<String, Error> {
        if depth > MAX_INCLUDE_DEPTH {
            return Err(Error::new(
                ErrorKind::IncludeDepth,
                format!(
                    "{}: include nested deeper than {MAX_INCLUDE_DEPTH} levels (an include cycle?)",
                    path.display()
                ),
            )
            .with_file(path));
        }
        let fs_path = self.fs_path(path);
        if !fs_path.is_file() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "config file not found: {}",
                    value::py_str_repr(&path.to_string_lossy())
                ),
            )
            .with_file(path));
        }
        read_text(&fs_path)
    }

    fn load_text(&mut self, text: &str, filename: &str, depth: usize) -> Result<(), Error> {
        match ConfigFormat::detect(text, filename) {
            ConfigFormat::Python => self.load_python(text, filename),
            ConfigFormat::Json => self.load_json(text, filename),
            ConfigFormat::Lines => self.load_lines(text, filename, depth),
        }
    }

    fn load_python(&mut self, text: &str, filename: &str) -> Result<(), Error> {
        // RETURNN strips the content before exec; count the lines removed at the start so
        // reported line numbers are those of the file.
        let lead = text.len() - text.trim_start().len();
        let line_offset = text[..lead].matches('\n').count();
        let env = exec_api::ConfigEnv {
            typed: &self.typed,
            text: &self.text,
            raised: Default::default(),
        };
        let module =
            python::eval_module_in(text.trim(), filename, line_offset, &env).map_err(|e| {
                Error::new(
                    ErrorKind::Syntax { line: e.line },
                    format!(
                        "{filename}:{}: Python syntax error in config: {}",
                        e.line, e.message
                    ),
                )
                .with_file(filename)
            })?;
        if let Some((method, msg)) = env.raised.into_inner().ok().flatten() {
            // RETURNN's exec of the file raises there: loading the config fails.
            let kind = match (method.as_str(), msg.split(':').next().unwrap_or("")) {
                ("bool", "AssertionError") => ErrorKind::NotBool,
                (_, "AssertionError") => ErrorKind::NotInt,
                ("bool", "ValueError") => ErrorKind::InvalidBool,
                (_, "ValueError") => ErrorKind::InvalidInt,
                (_, "IndexError") => ErrorKind::Index,
                _ => ErrorKind::Unsupported,
            };
            return Err(Error::new(
                kind,
                format!("{filename}: config.{method}(...) raises while the config runs: {msg}"),
            )
            .with_file(filename));
        }
        self.typed.insert(
            "config".into(),
            Value::Unsupported("the Config object".into()),
        );
        self.typed
            .insert("__file__".into(), Value::Str(filename.to_string()));
        self.typed
            .insert("__name__".into(), Value::Str("__returnn_config__".into()));
        for (k, v) in module.globals {
            self.typed.insert(k, v);
        }
        for s in module.skipped {
            self.skipped.push((PathBuf::from(filename), s));
        }
        Ok(())
    }

    fn load_json(&mut self, text: &str, filename: &str) -> Result<(), Error> {
        let v = json::parse(text.trim()).map_err(|e| {
            Error::new(
                ErrorKind::Json,
                format!("{filename}: config looks like JSON but invalid json content: {e}"),
            )
            .with_file(filename)
        })?;
        match v {
            Value::Dict(items) => {
                for (k, v) in items {
                    if let Value::Str(k) = k {
                        self.typed.insert(k, v);
                    }
                }
                Ok(())
            }
            other => Err(Error::new(
                ErrorKind::Json,
                format!(
                    "{filename}: a JSON config must be an object, found {}",
                    other.type_name()
                ),
            )
            .with_file(filename)),
        }
    }

    fn load_lines(&mut self, text: &str, filename: &str, depth: usize) -> Result<(), Error> {
        for (i, raw) in py_splitlines(text.trim()).into_iter().enumerate() {
            let line = match raw.find('#') {
                Some(p) => &raw[..p],
                None => raw,
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            match line.split_once(char::is_whitespace) {
                Some((key, value)) => {
                    self.add_line_depth(key, value.trim_start(), depth)?;
                }
                None => {
                    return Err(Error::new(
                        ErrorKind::LineFormat,
                        format!(
                            "{filename}: line {}: unable to parse config line: {} (expected `key value`)",
                            i + 1,
                            value::py_str_repr(line)
                        ),
                    )
                    .with_file(filename))
                }
            }
        }
        Ok(())
    }

    /// RETURNN's `init_config` for `returnn CONFIG... ARGS...`: the command line is applied
    /// to the empty config, the config files are loaded in order, and the command line is
    /// applied again. So a Python config that reads the config while it runs
    /// (`task = config.value("task", "train")`) sees `++task eval` / `--task eval` (as an
    /// untyped string), and the second pass then overrides what the files set (a `str` stays
    /// a `str`: `task` is `"eval"`). `--config FILE` and `++include FILE` are loaded in both
    /// passes, as in RETURNN.
    pub fn init(files: &[&Path], args: &[String]) -> Result<Config, Error> {
        let mut c = Config::new();
        for f in files {
            c.load_file(f)?;
        }
        c.apply_overrides(args)?;
        Ok(c)
    }

    /// Applies RETURNN command-line arguments (`++key value` pairs and its optparse options
    /// such as `--task eval`, see [`cmdline`]) to this config, as RETURNN's `parse_cmd_args`
    /// does (a value starting with `+-` loses its leading `+`, so `++x +-0.1` sets `-0.1`).
    /// This is the second pass of [`Config::init`] only; use `init` to get RETURNN's result
    /// for configs that read the config while they run.
    ///
    /// On a config that so far was only loaded (files or text, nothing set or overridden),
    /// this is RETURNN's whole `init_config`: the config is rebuilt from those sources with the
    /// command line applied before and after them, so `Config::load(p)?.apply_overrides(a)`
    /// equals [`Config::init`]`(&[p], a)`. Otherwise it is one `parse_cmd_args` pass.
    pub fn apply_overrides(&mut self, args: &[String]) -> Result<(), Error> {
        let cmd = CommandLine::parse(args)?;
        match self.replay.take() {
            Some(sources) if !cmd.steps.is_empty() => {
                let mut c = Config::new();
                c.replay = None;
                c.base = self.base.clone();
                c.apply_command_line(&cmd)?;
                for (path, text, filename) in &sources {
                    if let Some(p) = path {
                        c.files.push(p.clone());
                    }
                    c.load_text(text, filename, 0)?;
                }
                c.apply_command_line(&cmd)?;
                *self = c;
                Ok(())
            }
            _ => self.apply_command_line(&cmd),
        }
    }

    /// Applies a parsed command line (one `parse_cmd_args` pass).
    pub fn apply_command_line(&mut self, cmd: &CommandLine) -> Result<(), Error> {
        self.replay = None;
        for step in &cmd.steps {
            match step {
                CmdStep::Set { key, value } => self.add_line(key, value)?,
                CmdStep::LoadConfig(f) => self.load_file(Path::new(f))?,
            }
        }
        Ok(())
    }

    /// RETURNN's `add_line(key, value)`: for a typed key, the string is `eval`'d back into a
    /// Python value (kept as a string if the previous value was a string, or on a syntax
    /// error, with a warning); otherwise it is stored as a string list split at `,`.
    pub fn add_line(&mut self, key: &str, value: &str) -> Result<(), Error> {
        self.replay = None;
        self.add_line_depth(key, value, 0)
    }

    fn add_line_depth(&mut self, key: &str, value: &str, depth: usize) -> Result<(), Error> {
        if let Some(prev) = self.typed.get(key) {
            let new = if matches!(prev, Value::Str(_)) {
                Value::Str(value.to_string())
            } else if matches!(prev, Value::Unsupported(_)) && !self.bound_by_definition(key) {
                // A computed value: its Python type is unknown here. Take the literal if the
                // text is one, else the raw string (what RETURNN does for a computed `str`).
                match python::eval_literal_text(value) {
                    Ok((v, None)) if !v.contains_unsupported() => v,
                    _ => Value::Str(value.to_string()),
                }
            } else {
                match python::eval_literal_text(value) {
                    Err(_) => {
                        self.warnings.push(format!(
                            "WARNING: can't evaluate config param {} to previous type: <class '{}'>. Keeping as string.",
                            value::py_str_repr(value),
                            prev.type_name()
                        ));
                        Value::Str(value.to_string())
                    }
                    Ok((v, missing)) => {
                        if let Some(name) = missing {
                            return Err(Error::new(
                                ErrorKind::NameError,
                                format!(
                                    "++{key} {value}: RETURNN evaluates this value as Python because `{key}` is typed ({}), and name '{name}' is not defined",
                                    prev.type_name()
                                ),
                            )
                            .with_key(key));
                        }
                        v
                    }
                }
            };
            self.typed.insert(key.to_string(), new);
            return Ok(());
        }
        let parts: Vec<String> = if value.find(',').is_some_and(|p| p > 0) {
            value.split(',').map(str::to_string).collect()
        } else {
            vec![value.to_string()]
        };
        if key == "include" {
            for f in parts {
                self.load_file_depth(Path::new(&f), depth + 1)?;
            }
        } else {
            self.text.insert(key.to_string(), parts);
        }
        Ok(())
    }

    /// Whether the last statement binding `key` was a `def`, `class` or `import`: its value is
    /// a function, class or module (never a `str`), so a `++` value is `eval`'d.
    fn bound_by_definition(&self, key: &str) -> bool {
        self.skipped
            .iter()
            .rev()
            .find(|(_, s)| s.names.iter().any(|n| n == key))
            .is_some_and(|(_, s)| {
                let w = s.what.trim_start();
                ["def ", "async def ", "class ", "import ", "from ", "@"]
                    .iter()
                    .any(|p| w.starts_with(p))
            })
    }

    /// Sets a typed value (RETURNN's `config.set`).
    pub fn set(&mut self, key: &str, value: Value) {
        self.replay = None;
        self.typed.insert(key.to_string(), value);
    }

    /// The typed value of `key` (RETURNN's `typed_value`): `None` for untyped or absent keys.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.typed.get(key)
    }

    /// The string list of an untyped key (line-based config or `++` override).
    pub fn get_text(&self, key: &str) -> Option<&[String]> {
        self.text.get(key).map(Vec::as_slice)
    }

    /// RETURNN's `has`: the key is present (typed, even as `None`, or untyped).
    pub fn has(&self, key: &str) -> bool {
        self.typed.contains_key(key) || self.text.contains_key(key)
    }

    /// Whether the key has a typed value.
    pub fn is_typed(&self, key: &str) -> bool {
        self.typed.contains_key(key)
    }

    /// All keys (typed and untyped), sorted.
    pub fn keys(&self) -> Vec<&str> {
        let mut k: Vec<&str> = self
            .typed
            .keys()
            .chain(self.text.keys())
            .map(String::as_str)
            .collect();
        k.sort_unstable();
        k.dedup();
        k
    }

    /// RETURNN's `config.value(key, default)`: a typed `None` gives the default, a typed
    /// list/tuple is joined with `,` (each element through Python `str`), any other typed value
    /// is Python `str(v)`; an untyped list is joined with `,`.
    pub fn value(&self, key: &str, default: Option<&str>) -> Result<Option<String>, Error> {
        if let Some(v) = self.typed.get(key) {
            let s = match v {
                Value::None => return Ok(default.map(str::to_string)),
                Value::List(items) | Value::Tuple(items) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for x in items {
                        parts.push(x.py_str().ok_or_else(|| self.unsupported(key, v))?);
                    }
                    parts.join(",")
                }
                other => other.py_str().ok_or_else(|| self.unsupported(key, v))?,
            };
            return Ok(Some(s));
        }
        if let Some(parts) = self.text.get(key) {
            return Ok(Some(parts.join(",")));
        }
        Ok(default.map(str::to_string))
    }

    fn unsupported(&self, key: &str, v: &Value) -> Error {
        let what = match v {
            Value::Unsupported(s) => s.clone(),
            _ => "a value containing a non-literal part".to_string(),
        };
        let origin = self
            .skipped
            .iter()
            .rev()
            .find(|(_, s)| s.names.iter().any(|n| n == key))
            .map(|(f, s)| format!(" ({}:{}: {})", f.display(), s.line, s.what))
            .unwrap_or_default();
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "not supported: config key '{key}' is computed by Python code, not a literal{origin} [{what}]; set it with `++{key} VALUE` to override"
            ),
        )
        .with_key(key)
    }

    /// RETURNN's `config.int(key, default)` (index 0): a typed value must be an `int` (a
    /// `bool` counts, a list/tuple gives its first element); a typed `None` gives `Ok(None)`;
    /// an untyped value goes through Python's `int()`.
    pub fn int(&self, key: &str, default: Option<i64>) -> Result<Option<i64>, Error> {
        if let Some(v) = self.typed.get(key) {
            let v = self.index0(key, v)?;
            return match v {
                Value::None => Ok(None),
                Value::Int(i) => Ok(Some(*i)),
                Value::Bool(b) => Ok(Some(i64::from(*b))),
                Value::Unsupported(_) => Err(self.unsupported(key, v)),
                other => Err(Error::new(
                    ErrorKind::NotInt,
                    format!(
                        "config option {key}={}: expected an int, found {} (RETURNN asserts isinstance(value, int))",
                        other.py_repr().unwrap_or_default(),
                        other.type_name()
                    ),
                )
                .with_key(key)),
            };
        }
        if let Some(parts) = self.text.get(key) {
            let s = parts.first().map(String::as_str).unwrap_or("");
            return match py_int_from_str(s) {
                Ok(Some(i)) => Ok(Some(i)),
                Ok(None) => Err(Error::new(
                    ErrorKind::InvalidInt,
                    format!("config option {key}={s:?}: integer out of the 64-bit range"),
                )
                .with_key(key)),
                Err(()) => Err(Error::new(
                    ErrorKind::InvalidInt,
                    format!(
                        "config option {key}: invalid literal for int() with base 10: {}",
                        value::py_str_repr(s)
                    ),
                )
                .with_key(key)),
            };
        }
        Ok(default)
    }

    fn index0<'a>(&self, key: &str, v: &'a Value) -> Result<&'a Value, Error> {
        match v {
            Value::List(items) | Value::Tuple(items) => items.first().ok_or_else(|| {
                Error::new(
                    ErrorKind::Index,
                    format!(
                        "config option {key}: RETURNN reads element 0 of the {}, which is empty (IndexError)",
                        v.type_name()
                    ),
                )
                .with_key(key)
            }),
            other => Ok(other),
        }
    }

    /// RETURNN's `config.bool(key, default)` (index 0): a typed int/bool is `bool(v)`; a typed
    /// `None` is falsy (RETURNN returns `None`); an untyped string goes through `to_bool`
    /// (an empty one gives the default).
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, Error> {
        if let Some(v) = self.typed.get(key) {
            let v = self.index0(key, v)?;
            return match v {
                Value::None => Ok(false),
                Value::Bool(b) => Ok(*b),
                Value::Int(i) => Ok(*i != 0),
                Value::Unsupported(_) => Err(self.unsupported(key, v)),
                other => Err(Error::new(
                    ErrorKind::NotBool,
                    format!(
                        "config option {key}={}: expected a bool, found {} (RETURNN asserts isinstance(value, bool))",
                        other.py_repr().unwrap_or_default(),
                        other.type_name()
                    ),
                )
                .with_key(key)),
            };
        }
        if let Some(parts) = self.text.get(key) {
            let s = parts.first().map(String::as_str).unwrap_or("");
            if s.is_empty() {
                return Ok(default);
            }
            return to_bool(s).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidBool,
                    format!(
                        "config option {key}: to_bool cannot handle {}",
                        value::py_str_repr(&s.to_lowercase())
                    ),
                )
                .with_key(key)
            });
        }
        Ok(default)
    }

    /// RETURNN's `config.is_true(key)`: Python truthiness of a typed value, else `bool`.
    pub fn is_true(&self, key: &str, default: bool) -> Result<bool, Error> {
        if let Some(v) = self.typed.get(key) {
            return v.truthy().ok_or_else(|| self.unsupported(key, v));
        }
        self.bool(key, default)
    }

    /// Files loaded (the main file and every `include`), in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Statements of Python configs that were not evaluated, with their file.
    pub fn skipped(&self) -> &[(PathBuf, Skipped)] {
        &self.skipped
    }

    /// Warnings RETURNN would print while reading (e.g. an override kept as a string).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// RETURNN's `to_bool` for strings.
pub(crate) fn to_bool(s: &str) -> Option<bool> {
    match py_int_from_str(s) {
        Ok(Some(i)) => return Some(i != 0),
        // An integer beyond 64 bits is not zero.
        Ok(None) => return Some(true),
        Err(()) => {}
    }
    match s.to_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Python's `str.splitlines()` for the line breaks that occur in config files.
fn py_splitlines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(p) => {
                out.push(&rest[..p]);
                let skip = if rest[p..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[p + skip..];
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

fn read_text(path: &Path) -> Result<String, Error> {
    use std::io::Read;
    let io_err = |e: std::io::Error| {
        Error::new(
            ErrorKind::Io,
            format!("config file {}: {e}", path.display()),
        )
        .with_file(path)
    };
    let f = std::fs::File::open(path).map_err(io_err)?;
    let mut buf = Vec::new();
    f.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io_err)?;
    if buf.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "config file {}: larger than {MAX_CONFIG_BYTES} bytes; not a config",
                path.display()
            ),
        )
        .with_file(path));
    }
    String::from_utf8(buf).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!(
                "config file {}: not UTF-8 text (invalid byte at offset {})",
                path.display(),
                e.utf8_error().valid_up_to()
            ),
        )
        .with_file(path)
    })
}
