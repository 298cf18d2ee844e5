//! The returnn-ckpt jobs as Python functions: one generic layer over the library layer
//! (`engine::jobs`). Each function turns its arguments into the job's typed request exactly as
//! the command line tool turns its flags into it, runs the job with the GIL released
//! ([`run_job`]) and returns the report as the Python objects `json.loads` makes of the
//! command's `--json` output (the same `serde` serialisation, so the same dict, in the same key
//! order). A library error becomes `returnn_ckpt.Error` with the fields of the command's JSON
//! error document; an argument value the command's parser would refuse is an `Error` of kind
//! `usage`; an argument of the wrong Python type is a `TypeError`.
//!
//! Paths, as on the command line: a path given as an argument (checkpoint, config file,
//! `target`, `out`) is used as given — a relative one is relative to the process's directory
//! (`os.getcwd()`) and is shown in the report as given; `cwd=DIR` is `-C DIR`, RETURNN's
//! working directory for the paths *inside* the config, and then the argument paths are made
//! absolute against `os.getcwd()` first (as the CLI does with `-C`), so they keep their meaning.
//!
//! A new job is one function here: build its request, call `run_job` with its `run`.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use engine::config::{ConfigInput, ConfigRequest};
use engine::{NoProgress, Progress};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::Serialize;

use crate::error;

// ------------------------------------------------------------------------------------------
// The generic layer

/// Runs `job` without the GIL (reporting to `progress`, a Python callable, if given); its
/// report becomes what `json.loads` gives for the command's `--json` document.
pub fn run_job<R, F>(py: Python<'_>, progress: Option<Py<PyAny>>, job: F) -> PyResult<Py<PyAny>>
where
    R: Serialize,
    F: FnOnce(&dyn Progress) -> engine::Result<R> + Send,
{
    let observer = match progress {
        Some(cb) => {
            if !cb.bind(py).is_callable() {
                return Err(PyTypeError::new_err(
                    "progress must be a callable progress(what: str, done: int, total: int), or None",
                ));
            }
            Some(PyProgress::new(cb))
        }
        None => None,
    };
    let result = py.detach(|| {
        let p: &dyn Progress = match &observer {
            Some(o) => o,
            None => &NoProgress,
        };
        job(p).map(|report| serde_json::to_string(&report))
    });
    let json = result.map_err(|e| error::from_engine(py, &e))?;
    if let Some(e) = observer.and_then(PyProgress::into_error) {
        return Err(e);
    }
    let json = json.map_err(|e| {
        pyo3::exceptions::PyRuntimeError::new_err(format!("report serialisation failed: {e}"))
    })?;
    Ok(py.import("json")?.call_method1("loads", (json,))?.unbind())
}

/// A Python progress callback `progress(what, done, total)` (bytes) behind the library's
/// [`Progress`]: called when a job starts and ends and at most every 100 ms in between, from
/// whichever thread the library reports on (the GIL taken for the call). The first exception
/// it raises is kept (no further calls) and raised once the job is over.
struct PyProgress {
    callback: Py<PyAny>,
    state: Mutex<ProgressState>,
}

struct ProgressState {
    what: String,
    done: u64,
    total: u64,
    last_call: Option<Instant>,
    error: Option<PyErr>,
}

const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

impl PyProgress {
    fn new(callback: Py<PyAny>) -> PyProgress {
        PyProgress {
            callback,
            state: Mutex::new(ProgressState {
                what: String::new(),
                done: 0,
                total: 0,
                last_call: None,
                error: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ProgressState> {
        // The state is plain counters that no code leaves half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn call(&self, st: &mut ProgressState) {
        if st.error.is_some() {
            return;
        }
        let args = (st.what.clone(), st.done, st.total);
        if let Err(e) = Python::attach(|py| self.callback.call1(py, args).map(drop)) {
            st.error = Some(e);
        }
        st.last_call = Some(Instant::now());
    }

    fn into_error(self) -> Option<PyErr> {
        self.state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .error
    }
}

impl Progress for PyProgress {
    fn begin(&self, what: &str, total_bytes: u64) {
        let mut st = self.lock();
        st.what = what.to_string();
        st.done = 0;
        st.total = total_bytes;
        self.call(&mut st);
    }

    fn advance(&self, bytes: u64) {
        let mut st = self.lock();
        st.done = st.done.saturating_add(bytes);
        if st
            .last_call
            .is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL)
        {
            self.call(&mut st);
        }
    }

    fn end(&self) {
        let mut st = self.lock();
        self.call(&mut st);
    }
}

// ------------------------------------------------------------------------------------------
// Arguments as the command line gives them

/// RETURNN's working directory (`-C DIR`) and how argument paths are passed with it.
struct WorkDir {
    cwd: Option<PathBuf>,
    /// `os.getcwd()`, read only when `cwd` is given.
    here: Option<PathBuf>,
}

impl WorkDir {
    fn new(py: Python<'_>, cwd: Option<PathBuf>) -> PyResult<WorkDir> {
        let here = match cwd {
            Some(_) => Some(py.import("os")?.call_method0("getcwd")?.extract()?),
            None => None,
        };
        Ok(WorkDir { cwd, here })
    }

    /// The request's base directory (empty: the current directory, as the CLI without `-C`).
    fn base(&self) -> PathBuf {
        self.cwd.clone().unwrap_or_default()
    }

    /// An argument path as the library must be given it: with `cwd` set, absolute against
    /// `os.getcwd()` (the library joins config-internal paths only to the base).
    fn arg_path(&self, p: PathBuf) -> PathBuf {
        match &self.here {
            Some(here) if !p.is_absolute() => here.join(p),
            _ => p,
        }
    }
}

/// `config`: a config file path, or a dict (sent as JSON config text, typed like a Python
/// config's values).
fn config_request(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    overrides: Option<&Bound<'_, PyAny>>,
    dir: &WorkDir,
) -> PyResult<ConfigRequest> {
    let input = if let Ok(d) = config.cast::<PyDict>() {
        check_config_value(d.as_any(), "config")?;
        let text: String = py.import("json")?.call_method1("dumps", (d,))?.extract()?;
        ConfigInput::Text {
            text,
            filename: "<config dict>".to_string(),
        }
    } else {
        let p: PathBuf = config.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "config must be a path (str or os.PathLike) or a dict, not {}",
                type_name(config)
            ))
        })?;
        ConfigInput::File(dir.arg_path(p))
    };
    Ok(ConfigRequest {
        config: input,
        overrides: override_args(overrides)?,
        base_dir: dir.base(),
    })
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// A config dict holds what a JSON config can: str keys; str, int, float (finite), bool,
/// None, list, tuple (as a list) and dict values. Anything else is a `TypeError` naming where.
fn check_config_value(v: &Bound<'_, PyAny>, at: &str) -> PyResult<()> {
    if v.is_none() || v.is_instance_of::<PyString>() || v.is_instance_of::<PyInt>() {
        return Ok(());
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        if f.value().is_finite() {
            return Ok(());
        }
        return Err(PyTypeError::new_err(format!(
            "{at} is {}: a config dict is sent as JSON, which has no such number",
            f.value()
        )));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        for (k, x) in d.iter() {
            let Ok(k) = k.cast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "{at} has a key of type {}: config dict keys must be str",
                    type_name(&k)
                )));
            };
            check_config_value(&x, &format!("{at}[{:?}]", k.to_string()))?;
        }
        return Ok(());
    }
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = v.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = v.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return Err(PyTypeError::new_err(format!(
            "{at} has type {}: a config dict holds only str, int, float, bool, None, list, tuple and dict values (it is sent as a JSON config)",
            type_name(v)
        )));
    };
    for (i, x) in items.iter().enumerate() {
        check_config_value(x, &format!("{at}[{i}]"))?;
    }
    Ok(())
}

/// `overrides`: a dict `{key: value}` -> `++key VALUE` in order, or a list of RETURNN
/// command-line arguments as given to the tool (`["++load_epoch", "3", "--task", "eval"]`).
///
/// How a value is spelled: a `str` as it is; `int`, `float`, `bool` and `None` as `str(value)`
/// (`3`, `0.001`, `True`, `None`); a list, tuple or dict as its Python literal (`repr`). RETURNN
/// keeps a `++` value as a string, except for a key the config file sets with a typed value,
/// where it evaluates the string back into a value: the spelling is what makes that work.
fn override_args(overrides: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    let Some(o) = overrides.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    if let Ok(d) = o.cast::<PyDict>() {
        let mut out = Vec::with_capacity(2 * d.len());
        for (k, v) in d.iter() {
            let key: String = k.extract().map_err(|_| {
                PyTypeError::new_err(format!("overrides keys must be str, not {}", type_name(&k)))
            })?;
            out.push(format!("++{key}"));
            out.push(override_value(&key, &v)?);
        }
        return Ok(out);
    }
    if o.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "overrides must be a dict {key: value} or a list of command-line arguments, not a str",
        ));
    }
    o.extract::<Vec<String>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "overrides must be a dict {{key: value}} or a list of str (RETURNN's command line), not {}",
            type_name(o)
        ))
    })
}

fn override_value(key: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_string());
    }
    if v.is_none()
        || v.is_instance_of::<PyBool>()
        || v.is_instance_of::<PyInt>()
        || v.is_instance_of::<PyFloat>()
    {
        return Ok(v.str()?.to_string());
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() || v.is_instance_of::<PyDict>()
    {
        return Ok(v.repr()?.to_string());
    }
    Err(PyTypeError::new_err(format!(
        "overrides[{key:?}] has type {}: give a str, int, float, bool, None, list, tuple or dict",
        type_name(v)
    )))
}

fn strs(v: Option<Vec<String>>) -> Vec<String> {
    v.unwrap_or_default()
}

fn utf8(p: PathBuf, what: &str) -> PyResult<String> {
    p.into_os_string()
        .into_string()
        .map_err(|p| PyTypeError::new_err(format!("{what} {p:?} is not valid UTF-8")))
}

/// `--fresh` / `--resume` as the plan request's `fresh`.
fn fresh_choice(py: Python<'_>, fresh: bool, resume: bool) -> PyResult<Option<bool>> {
    match (fresh, resume) {
        (true, true) => Err(error::usage(py, "fresh and resume exclude each other")),
        (true, false) => Ok(Some(true)),
        (false, true) => Ok(Some(false)),
        (false, false) => Ok(None),
    }
}

// ------------------------------------------------------------------------------------------
// Checkpoint jobs

/// Lists a checkpoint's tensors; the dict of `returnn-ckpt inspect PATH --json`:
/// `{"path", "format", "num_shards", "endianness", "tensors": [{"name", "dtype", "shape",
/// "sha256"?, "error"?, "stats"?, "object_path"?, "full_name"?}], "notes"}` (tensors sorted by
/// name; a tensor that cannot be read has `"error"`).
///
/// `stats=True` adds min/max/mean/stddev/rms per numeric tensor, `digest=True` each tensor's
/// sha256, `object_names=True` TF2 object paths. With `tensors=[NAME, ...]` (`--tensor`) the
/// dict is instead the values of those tensors: `{"path", "tensors": [{"name", "dtype",
/// "shape", "sha256"?, "num_elements", "values", "truncated"} | {"name", "error"}], "notes"}`,
/// the first 1000 elements unless `all=True`. `mmap=True` memory-maps the data files (only for
/// files nothing else is writing). `progress`: see the module docs.
#[pyfunction]
#[pyo3(signature = (path, *, stats = false, tensors = None, digest = false, object_names = false, all = false, mmap = false, progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn inspect(
    py: Python<'_>,
    path: PathBuf,
    stats: bool,
    tensors: Option<Vec<String>>,
    digest: bool,
    object_names: bool,
    all: bool,
    mmap: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let tensors = strs(tensors);
    if !tensors.is_empty() {
        let req = engine::inspect::ValuesRequest {
            path,
            tensors,
            digest,
            mmap,
            all,
        };
        return run_job(py, progress, move |_| engine::inspect::values(&req));
    }
    let req = engine::inspect::InspectRequest {
        path,
        stats,
        digest,
        object_names,
        mmap,
    };
    run_job(py, progress, move |p| engine::inspect::run(&req, p))
}

/// Reads every tensor and checks every CRC and structural rule; the dict of `returnn-ckpt
/// verify PATH --json`: `{"path", "format", "num_shards", "tensors", "ok", "problems":
/// [{"kind", "path", "key", "message"}], "notes"}` (problems found are in the dict, with `"ok":
/// False`; only a checkpoint that cannot be opened raises).
#[pyfunction]
#[pyo3(signature = (path, *, mmap = false, progress = None))]
pub fn verify(
    py: Python<'_>,
    path: PathBuf,
    mmap: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let req = engine::verify::VerifyRequest { path, mmap };
    run_job(py, progress, move |p| engine::verify::run(&req, p))
}

/// Converts a checkpoint to a `.safetensors` file (or with `to="tf"` to one V2 bundle), or a
/// `.safetensors` file back to a TF bundle prefix; the dict of `returnn-ckpt convert PATH OUT
/// --json`: `{"out", "format", "tensors", "bytes", "skipped": [{"name", "dtype", "reason"}],
/// "notes"}`.
///
/// `to`: `"safetensors"`, `"tf"`, `"pt"` or None (pt if `out` ends in `.pt`, safetensors if
/// it ends in `.safetensors`, else tf if `path` ends in `.safetensors`, else safetensors).
/// `path` may be a TF checkpoint, a `.safetensors` or a RETURNN PyTorch `.pt` file. A `.pt`
/// output has RETURNN's layout: `epoch` (default: from the input's file name, else the epoch
/// it stores, else 1), `step` (default: the input's step or `global_step`, else 0),
/// `effective_learning_rate` from `lr_file` or the `config`'s `learning_rate_file` (a path
/// or dict; its paths resolve against `cwd`). `include` / `exclude`: regexes (any of them); `rename`: `"REGEX=REPLACEMENT"`
/// strings applied in order; `no_optimizer` drops optimizer state; `strings`: `"skip"` or
/// `"metadata"`; `strict` fails instead of skipping; `float8` maps float8 to safetensors F8_*;
/// `skip_unreadable` leaves out tensors that cannot be read; `allow_empty` writes even when
/// the filters leave nothing; `force` replaces an existing output. The output appears
/// atomically.
#[pyfunction]
#[pyo3(signature = (path, out, *, to = None, epoch = None, step = None, lr_file = None, config = None, cwd = None, strict = false, strings = "skip", include = None, exclude = None, rename = None, no_optimizer = false, float8 = false, force = false, skip_unreadable = false, allow_empty = false, mmap = false, progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn convert(
    py: Python<'_>,
    path: PathBuf,
    out: PathBuf,
    to: Option<&str>,
    epoch: Option<i64>,
    step: Option<i64>,
    lr_file: Option<PathBuf>,
    config: Option<&Bound<'_, PyAny>>,
    cwd: Option<PathBuf>,
    strict: bool,
    strings: &str,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    rename: Option<Vec<String>>,
    no_optimizer: bool,
    float8: bool,
    force: bool,
    skip_unreadable: bool,
    allow_empty: bool,
    mmap: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    use engine::convert::{ConvertTo, Strings};
    let dir = WorkDir::new(py, cwd)?;
    let to = match to {
        None => None,
        Some("safetensors") => Some(ConvertTo::Safetensors),
        Some("tf") => Some(ConvertTo::Tf),
        Some("pt") => Some(ConvertTo::Pt),
        Some(other) => {
            return Err(error::usage(
                py,
                format!(
                "invalid value {other:?} for to: expected \"safetensors\", \"tf\", \"pt\" or None"
            ),
            ))
        }
    };
    let strings = match strings {
        "skip" => Strings::Skip,
        "metadata" => Strings::Metadata,
        other => {
            return Err(error::usage(
                py,
                format!("invalid value {other:?} for strings: expected \"skip\" or \"metadata\""),
            ))
        }
    };
    let req = engine::convert::ConvertRequest {
        to,
        strict,
        strings,
        include: strs(include),
        exclude: strs(exclude),
        rename: strs(rename),
        no_optimizer,
        float8,
        force,
        mmap,
        skip_unreadable,
        allow_empty,
        epoch,
        step,
        lr_file: lr_file.map(|p| dir.arg_path(p)),
        config: match config {
            Some(c) => Some(config_request(py, c, None, &dir)?),
            None => None,
        },
        ..engine::convert::ConvertRequest::new(dir.arg_path(path), dir.arg_path(out))
    };
    run_job(py, progress, move |p| engine::convert::run(&req, p))
}

/// Averages the floating-point tensors of several checkpoints into a TF bundle at the prefix
/// `out` (integer tensors such as `global_step` from the last input); the dict of
/// `returnn-ckpt avg PATH... --out OUT --json`: `{"out", "inputs", "averaged",
/// "copied_from_last", "partial": [{"name", "inputs"}], "notes"}`. `ignore_missing` averages a
/// tensor missing from some inputs over those that have it; `force` replaces an existing
/// output.
#[pyfunction]
#[pyo3(signature = (paths, out, *, ignore_missing = false, force = false, progress = None))]
pub fn avg(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    out: PathBuf,
    ignore_missing: bool,
    force: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    if paths.is_empty() {
        return Err(error::usage(
            py,
            "avg needs at least one checkpoint in paths",
        ));
    }
    let req = engine::avg::AvgRequest {
        paths,
        out,
        ignore_missing,
        force,
    };
    run_job(py, progress, move |p| engine::avg::run(&req, p))
}

/// Compares two checkpoints tensor by tensor; the dict of `returnn-ckpt diff A B --json`:
/// `{"a", "b", "atol", "rtol", "equal", "only_in_a", "only_in_b", "dtype_changed",
/// "shape_changed", "value_changed", "compared"}` (`a`/`b` the checkpoint prefixes as
/// opened). Elements differ when `|a - b| > atol + rtol * |b|`; differences are in the dict
/// (`"equal": False`), not raised. A and B may be TF checkpoints, `.pt` or `.safetensors`
/// files; `rename`: `["REGEX=REPLACEMENT", ...]` applied to A's names before matching, as
/// `--rename` (e.g. a TF checkpoint against its PyTorch port).
#[pyfunction]
#[pyo3(signature = (a, b, *, atol = 0.0, rtol = 0.0, rename = None, progress = None))]
pub fn diff(
    py: Python<'_>,
    a: PathBuf,
    b: PathBuf,
    atol: f64,
    rtol: f64,
    rename: Option<Vec<String>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let req = engine::diff::DiffRequest {
        a,
        b,
        atol,
        rtol,
        rename: rename.unwrap_or_default(),
    };
    run_job(py, progress, move |p| engine::diff::run(&req, p))
}

// ------------------------------------------------------------------------------------------
// RETURNN jobs (a config, `++` overrides, RETURNN's working directory)

/// Which checkpoint RETURNN loads for a config, at which epoch, and where training continues;
/// the dict of `returnn-ckpt resolve CONFIG [++key value]... [-C DIR] --json`: `{"epoch",
/// "model", "start_epoch", "existing": {"N": path}, "notes"}`. Where RETURNN would raise,
/// raises `Error` with `.outcome == "negative"`.
///
/// `config`: a config file (Python, JSON or line-based) or a dict (typed values, as a Python
/// config sets them); `overrides`: `{key: value}` for `++key value` (see the README for how
/// values are spelled) or a list of RETURNN command-line arguments; `cwd`: RETURNN's working
/// directory (`-C DIR`; default the current directory).
#[pyfunction]
#[pyo3(signature = (config, *, overrides = None, cwd = None))]
pub fn resolve(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    overrides: Option<&Bound<'_, PyAny>>,
    cwd: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let dir = WorkDir::new(py, cwd)?;
    let req = engine::resolve::ResolveRequest {
        config: config_request(py, config, overrides, &dir)?,
    };
    run_job(py, None, move |_| engine::resolve::run(&req))
}

/// For each checkpoint path, the pattern RETURNN makes of it and the epoch it reads (following
/// `.meta`/`.pt` symlinks from `cwd`); the list of `returnn-ckpt path PATH... [-C DIR] --json`:
/// `[{"input", "pattern", "epoch"}]`, with `"epoch": None, "error": "..."` where RETURNN fails
/// (never raised).
#[pyfunction]
#[pyo3(signature = (paths, *, cwd = None))]
pub fn path(py: Python<'_>, paths: Vec<PathBuf>, cwd: Option<PathBuf>) -> PyResult<Py<PyAny>> {
    if paths.is_empty() {
        return Err(error::usage(py, "path needs at least one path in paths"));
    }
    let paths = paths
        .into_iter()
        .map(|p| utf8(p, "path"))
        .collect::<PyResult<Vec<_>>>()?;
    let req = engine::path::PathRequest {
        paths,
        base_dir: WorkDir::new(py, cwd)?.base(),
    };
    run_job(py, None, move |_| Ok(engine::path::run(&req)))
}

/// The existing epochs of the config's model with their files, learning rates and scores;
/// the dict of `returnn-ckpt epochs CONFIG [--best [KEY]] [--plot FILE] --json`: `{"model",
/// "final_epoch", "learning_rate_file", "epochs": [{"epoch", "path", "pretrain", "files",
/// "learning_rate", "scores"}], "tf_checkpoint_state", "best"?, "notes", "plot"?}`.
/// `best=True` (or `""`) adds the best epoch by the default score key, `best="KEY"` by that key.
/// `plot="curve.svg"` (or `.png`) also draws the learning-rate-control file there (`plot_size`
/// `(width, height)` in pixels, default `(1024, 768)`, `force` replaces an existing picture), as `--plot`. `config`,
/// `overrides`, `cwd`: as for `resolve`.
#[pyfunction]
#[pyo3(signature = (config, *, best = None, plot = None, plot_size = None, force = false, overrides = None, cwd = None))]
#[allow(clippy::too_many_arguments)]
pub fn epochs(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    best: Option<&Bound<'_, PyAny>>,
    plot: Option<PathBuf>,
    plot_size: Option<(u32, u32)>,
    force: bool,
    overrides: Option<&Bound<'_, PyAny>>,
    cwd: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let best = match best {
        None => None,
        Some(b) if b.is_none() => None,
        Some(b) if b.is_instance_of::<PyBool>() => b.extract::<bool>()?.then(String::new),
        Some(b) => Some(b.extract::<String>().map_err(|_| {
            PyTypeError::new_err(format!(
                "best must be None, a bool or a score key (str), not {}",
                type_name(b)
            ))
        })?),
    };
    let dir = WorkDir::new(py, cwd)?;
    let req = engine::epochs::EpochsRequest {
        config: config_request(py, config, overrides, &dir)?,
        best,
    };
    let Some(plot) = plot else {
        return run_job(py, None, move |_| engine::epochs::run(&req));
    };
    let (width, height) = plot_size.unwrap_or((1024, 768));
    let plot_req = engine::plot::PlotRequest {
        out: dir.arg_path(plot),
        force,
        width,
        height,
    };
    run_job(py, None, move |_| {
        let loaded = engine::config::load(&req.config)?;
        let report = engine::epochs::run_loaded(&loaded, req.best.clone())?;
        let drawn = engine::plot::write(&loaded, req.best.as_deref(), &plot_req)?;
        Ok(EpochsWithPlot {
            report,
            plot: drawn.path,
        })
    })
}

/// `epochs` with `plot=`: the report and the picture's path, as `--plot` prints them.
#[derive(serde::Serialize)]
struct EpochsWithPlot {
    #[serde(flatten)]
    report: engine::epochs::EpochsReport,
    plot: String,
}

/// Which epochs RETURNN's `cleanup_old_models` keeps and deletes, and the files concerned; the
/// dict of `returnn-ckpt cleanup CONFIG [--apply] --json`: `{"stored", "keep", "delete",
/// "files": {"N": [{"path", "bytes"}]}, "bytes", "applied", "log"}`. A dry run unless
/// `apply=True`, which deletes exactly the listed files. `config`, `overrides`, `cwd`: as for
/// `resolve`.
#[pyfunction]
#[pyo3(signature = (config, *, apply = false, overrides = None, cwd = None))]
pub fn cleanup(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    apply: bool,
    overrides: Option<&Bound<'_, PyAny>>,
    cwd: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let dir = WorkDir::new(py, cwd)?;
    let req = engine::cleanup::CleanupRequest {
        config: config_request(py, config, overrides, &dir)?,
        apply,
    };
    run_job(py, None, move |_| engine::cleanup::run(&req))
}

fn plan_request(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    target: PathBuf,
    fresh: bool,
    resume: bool,
    overrides: Option<&Bound<'_, PyAny>>,
    dir: &WorkDir,
) -> PyResult<engine::plan::PlanRequest> {
    Ok(engine::plan::PlanRequest {
        fresh: fresh_choice(py, fresh, resume)?,
        config: config_request(py, config, overrides, dir)?,
        target: dir.arg_path(target),
    })
}

/// The parameter-loading plan RETURNN would follow for the network `target` (a checkpoint, a
/// `.meta` graph or a JSON variable list); the dict of `returnn-ckpt plan CONFIG --target
/// TARGET --json`: `{"notes", "variables": {"<name>": {"entry", "file", "keys", "rule",
/// "status"}}}`. `fresh=True` plans as at the start of a recorded run, `resume=True` a re-run
/// (default: fresh exactly when `target` is one of the config's own model checkpoints).
/// `config`, `overrides`, `cwd`: as for `resolve`.
#[pyfunction]
#[pyo3(signature = (config, target, *, fresh = false, resume = false, overrides = None, cwd = None))]
pub fn plan(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    target: PathBuf,
    fresh: bool,
    resume: bool,
    overrides: Option<&Bound<'_, PyAny>>,
    cwd: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let dir = WorkDir::new(py, cwd)?;
    let req = plan_request(py, config, target, fresh, resume, overrides, &dir)?;
    run_job(py, None, move |_| engine::plan::run(&req))
}

/// Computes the plan (exactly what `plan` gives) and writes exactly the loaded variables to
/// `out` (`FILE.safetensors`, or a TF checkpoint prefix); the dict of `returnn-ckpt load
/// CONFIG --target TARGET --out OUT --json`: `{"notes", "out", "variables", "written"}`.
/// `force` replaces an existing output; the other arguments as for `plan`.
#[pyfunction]
#[pyo3(signature = (config, target, out, *, fresh = false, resume = false, force = false, overrides = None, cwd = None, progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn load(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    target: PathBuf,
    out: PathBuf,
    fresh: bool,
    resume: bool,
    force: bool,
    overrides: Option<&Bound<'_, PyAny>>,
    cwd: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let dir = WorkDir::new(py, cwd)?;
    let shown = out.display().to_string();
    let req = engine::load::LoadRequest {
        plan: plan_request(py, config, target, fresh, resume, overrides, &dir)?,
        out: dir.arg_path(out),
        force,
    };
    run_job(py, progress, move |p| {
        // The output as the caller named it, as the command line tool shows it.
        engine::load::run(&req, p).map(|r| engine::load::LoadReport { out: shown, ..r })
    })
}

/// Registers the job functions.
/// Ports a TF net-dict checkpoint to RF / torch module parameters by a rules file; the dict
/// of `returnn-ckpt port CKPT --rules R.toml [--config C] [--target T] [--out OUT] --json`:
/// the plan document of docs/port-rules.md (`"ok"`, `"layers"`, `"params"`, `"ignored"`,
/// `"issues"`, ...) plus `"written"` (`{"out", "format", ...}` or None). A plan with issues
/// is returned with `"ok": False` when nothing is to be written, and raised as `Error` when
/// `out` is given (nothing is written). `suggest=True` instead returns (and with `out` writes)
/// a starting rules file: the dict of `port CKPT --suggest --json`.
///
/// `checkpoint`: a TF checkpoint in any form `inspect` takes; `config`: the RETURNN config
/// whose network dict names the layer kinds (path or dict); `target`: the module's state dict
/// (`.pt`, `.safetensors` or a JSON list) to check against; `out`: `OUT.pt` (RETURNN's layout,
/// `pt_layout="flat"` for a bare state dict) or `OUT.safetensors`; `epoch` / `step`: the
/// `.pt` entries; `style`: `"rf"` or `"torch"` for `suggest`; `cwd`: as `-C` (the config's
/// own paths).
#[pyfunction]
#[pyo3(signature = (checkpoint, *, rules = None, suggest = false, config = None, target = None, out = None, force = false, epoch = None, step = None, pt_layout = "returnn", style = None, cwd = None, progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn port(
    py: Python<'_>,
    checkpoint: PathBuf,
    rules: Option<PathBuf>,
    suggest: bool,
    config: Option<&Bound<'_, PyAny>>,
    target: Option<PathBuf>,
    out: Option<PathBuf>,
    force: bool,
    epoch: Option<i64>,
    step: Option<i64>,
    pt_layout: &str,
    style: Option<&str>,
    cwd: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    use engine::port::{PortRequest, PtLayout, RulesInput, Style, SuggestRequest};
    let dir = WorkDir::new(py, cwd)?;
    let config = match config {
        Some(c) => Some(config_request(py, c, None, &dir)?),
        None => None,
    };
    let shown = out.as_ref().map(|p| p.display().to_string());
    if suggest {
        let style = match style {
            None => None,
            Some("rf") => Some(Style::Rf),
            Some("torch") => Some(Style::Torch),
            Some(other) => {
                return Err(error::usage(
                    py,
                    format!(
                        "invalid value {other:?} for style: expected \"rf\", \"torch\" or None"
                    ),
                ))
            }
        };
        let req = SuggestRequest {
            checkpoint: dir.arg_path(checkpoint),
            config,
            target: target.map(|p| dir.arg_path(p)),
            out: out.map(|p| dir.arg_path(p)),
            force,
            style,
        };
        return run_job(py, None, move |_| {
            let mut r = engine::port::suggest(&req)?;
            r.out = shown;
            Ok(r)
        });
    }
    let Some(rules) = rules else {
        return Err(error::usage(
            py,
            "port needs rules= (a rules file), or suggest=True to write one",
        ));
    };
    let pt_layout = match pt_layout {
        "returnn" => PtLayout::Returnn,
        "flat" => PtLayout::Flat,
        other => {
            return Err(error::usage(
                py,
                format!("invalid value {other:?} for pt_layout: expected \"returnn\" or \"flat\""),
            ))
        }
    };
    let req = PortRequest {
        checkpoint: dir.arg_path(checkpoint),
        rules: RulesInput::File(dir.arg_path(rules)),
        config,
        target: target.map(|p| dir.arg_path(p)),
        out: out.map(|p| dir.arg_path(p)),
        force,
        epoch,
        step,
        pt_layout,
    };
    run_job(py, progress, move |p| {
        let mut r = engine::port::run(&req, p)?;
        if let (Some(w), Some(shown)) = (r.written.as_mut(), shown) {
            w.out = shown;
        }
        Ok(r)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(avg, m)?)?;
    m.add_function(wrap_pyfunction!(diff, m)?)?;
    m.add_function(wrap_pyfunction!(resolve, m)?)?;
    m.add_function(wrap_pyfunction!(path, m)?)?;
    m.add_function(wrap_pyfunction!(epochs, m)?)?;
    m.add_function(wrap_pyfunction!(cleanup, m)?)?;
    m.add_function(wrap_pyfunction!(plan, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(port, m)?)?;
    Ok(())
}
