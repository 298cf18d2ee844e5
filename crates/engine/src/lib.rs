//! # engine — the library layer of returnn-ckpt
//!
//! Owns the jobs every face offers — `inspect`, `verify`, `convert`, `avg`, `diff`, `resolve`,
//! `path`, `epochs`, `cleanup`, `plan`, `load`, `port` (module [`jobs`]) — each as a typed
//! request, a `serde`-serialisable report whose JSON is the stable contract the CLI prints and
//! the Python package returns, and a `run` function. It joins the crates below it: configs
//! (`returnn-config`), RETURNN's file and selection rules (`model-files`), the mapping rules
//! (`param-map`), the port rules (`port`), the formats (`tf-bundle`, `torch-pt`), the sinks
//! (`convert`, `torch-pt`'s writer) and the learning-rate picture ([`plot`], drawn by
//! `lr-plot`), and it owns the policies that decide between them: which engine's loading rules
//! apply, where a plan meets its output sink, the fresh/resume choice of `plan`, and the
//! input/output overlap checks.
//!
//! It never prints, never exits, never reads or changes the process's current directory:
//! every path inside a config is resolved against the request's `base_dir` ([`paths`]); a
//! face reports progress through [`progress::Progress`] and errors through [`Error`] (a small
//! `Copy` [`ErrorKind`] with a stable `label()`, the file, the key and the cause chain).
//!
//! Not supported (reported as `unsupported`): `custom_missing_load_func` (a Python callable),
//! `load_on_init` given as a callable, inside the subnetwork of a layer that has one itself, or
//! under a layer kind other than `subnetwork` and `rec` (whose name scopes are modelled),
//! `custom_param_importer` given as a Python callable or `"subset"` with a shape change (the
//! result depends on the random init), and `ignore_params` given as a plain string.

pub mod config;
pub mod error;
pub mod inputs;
pub mod jobs;
pub mod netdict;
pub mod output;
pub mod paths;
pub mod plot;
pub mod progress;
pub mod source;
pub mod targets;
pub mod tf_plan;
pub mod torch_plan;

pub use error::{Error, ErrorKind, Outcome, Result};
pub use jobs::{
    avg, cleanup, convert, diff, epochs, inspect, load, path, plan, port, resolve, verify,
};
pub use netdict::{
    load_on_init_loaders, network_importers, preload_entries, LoadOnInit, PreloadEntry,
};
pub use progress::{NoProgress, Progress};
pub use source::CheckpointSource;
pub use targets::load_targets;
pub use tf_plan::{plan as plan_config, plan_with, target_is_own_model, EnginePlan, PlanOptions};

/// Python's `repr` of a float (`0.1`, `1e-05`, `inf`): how RETURNN prints scores and learning
/// rates, for faces that print them like RETURNN.
pub use returnn_config::py_float_repr;

pub(crate) fn unsupported(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unsupported, msg)
}

pub(crate) fn config_value_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ConfigValue, msg)
}
