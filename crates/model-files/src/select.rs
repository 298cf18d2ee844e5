//! Existing-model discovery and model selection: RETURNN's `config_get_final_epoch`,
//! `get_existing_models`, `get_epoch_model` and `get_train_start_epoch`
//! (docs/returnn-engine.md §3-§5, §9), as in RETURNN 1.20261022 ("pip").

use std::collections::BTreeMap;

use returnn_config::{py_int_from_str, py_str_repr, Config, ErrorKind as ConfigErrorKind};

use crate::error::{SelectError, SelectErrorKind};
use crate::fs::Fs;
use crate::paths::{epoch_model_filename, get_checkpoint_filepattern, model_epoch_from_filename};
use crate::Epoch;

/// Above this many epochs to scan, existing models are found by listing the model's
/// directory instead of probing every epoch (same result, bounded work).
const PROBE_LIMIT: i64 = 20_000;

/// The backend whose file rules apply (docs/returnn-engine.md §2.2, §4, §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// TF net-dict or RF-TF: `.meta` postfix, `.index`, `.pretrain.` names.
    TensorFlow,
    /// PyTorch: `.pt` postfix, `.opt.pt` needed for training.
    Torch,
}

impl Backend {
    /// RETURNN's `get_model_filename_postfix`.
    pub fn model_postfix(self) -> &'static str {
        match self {
            Backend::TensorFlow => ".meta",
            Backend::Torch => ".pt",
        }
    }

    /// The backend a config selects (see [`Engine::from_config`]).
    pub fn from_config(config: &Config) -> Result<Backend, SelectError> {
        Engine::from_config(config).map(Engine::backend)
    }
}

/// The engine RETURNN's `BackendEngine.select_engine` picks (`__main__` decides some task rules
/// by it: only the TF net-dict engine copies `epoch` into `load_epoch` for `forward`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `backend = "tensorflow-net-dict"`, or `use_tensorflow` true (`returnn/tf/engine.py`).
    TensorFlowNetDict,
    /// `backend = "tensorflow"`: the RF-based TF engine (`returnn/tf/engine_rf.py`).
    TensorFlowRf,
    /// `backend = "torch"`.
    Torch,
}

impl Engine {
    /// RETURNN's `BackendEngine.select_engine(config=config)`: a non-empty `backend`
    /// (`config.value`) is looked up in RETURNN's table (`tensorflow-net-dict`, `tensorflow`,
    /// `torch`, `jax`; anything else is RETURNN's `KeyError`); else `config.bool("use_tensorflow",
    /// False)` selects the net-dict engine. With neither, RETURNN's `__main__` raises "No backend
    /// defined"; this tool assumes the TF net-dict engine instead (it is a TF tool, and RETURNN
    /// configs written before `backend` existed are TF ones), which the differential oracle
    /// drives as `select_engine(..., default_fallback_engine=TensorFlowNetDict)`.
    /// `jax` is not supported (its `.orbax` directories are not TF checkpoints).
    pub fn from_config(config: &Config) -> Result<Engine, SelectError> {
        let backend = config.value("backend", None).map_err(config_err)?;
        match backend.as_deref() {
            Some("tensorflow-net-dict") => Ok(Engine::TensorFlowNetDict),
            Some("tensorflow") => Ok(Engine::TensorFlowRf),
            Some("torch") => Ok(Engine::Torch),
            Some("jax") => Err(SelectError::new(
                SelectErrorKind::BackendNotSupported,
                "not supported: backend='jax' (model-file rules are implemented for 'tensorflow', 'tensorflow-net-dict' and 'torch')",
            )),
            Some(other) if !other.is_empty() => Err(SelectError::new(
                SelectErrorKind::BackendUnknown,
                format!(
                    "KeyError: {} (backend must be one of 'tensorflow-net-dict', 'tensorflow', 'torch', 'jax')",
                    py_str_repr(other)
                ),
            )),
            _ => {
                // `use_tensorflow` true or false: both give TF here (see above).
                config.bool("use_tensorflow", false).map_err(config_err)?;
                Ok(Engine::TensorFlowNetDict)
            }
        }
    }

    /// The file rules this engine uses.
    pub fn backend(self) -> Backend {
        match self {
            Engine::TensorFlowNetDict | Engine::TensorFlowRf => Backend::TensorFlow,
            Engine::Torch => Backend::Torch,
        }
    }
}

/// The outcome of `get_epoch_model` (plus the train start epoch where it applies).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// Epoch of the selected model; `Some(0)` marks an `import_model_train_epoch1` import.
    pub epoch: Option<Epoch>,
    /// Path of the selected model, without extension (as RETURNN keeps it).
    pub model: Option<String>,
    /// Where training starts (`get_train_start_epoch`), for the tasks that call
    /// `init_train_from_config` (`train`, `eval`, `initialize_model`, `nop_init_net_train`);
    /// `None` otherwise.
    pub start_epoch: Option<Epoch>,
    /// Existing models found (epoch -> path without extension).
    pub existing: BTreeMap<Epoch, String>,
    /// The log lines RETURNN prints while deciding (`note: ...`, `warning: ...`).
    pub notes: Vec<String>,
    /// The task (`config.value("task", "train")`).
    pub task: String,
}

/// Maps a config read error to a selection error.
fn config_err(e: returnn_config::Error) -> SelectError {
    let exc = e.kind().python_exception();
    let msg = e.to_string();
    if msg.starts_with("not supported") || msg.starts_with(exc) {
        SelectError::new(SelectErrorKind::Config, msg)
    } else {
        SelectError::new(SelectErrorKind::Config, format!("{exc}: {msg}"))
    }
}

/// `config.int(key, default)` with errors mapped to the kinds of `key`.
fn read_int(
    config: &Config,
    key: &str,
    default: i64,
    not_int: SelectErrorKind,
    none: SelectErrorKind,
    none_msg: &str,
) -> Result<i64, SelectError> {
    match config.int(key, Some(default)) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(SelectError::new(none, none_msg.to_string())),
        Err(e) => match e.kind() {
            ConfigErrorKind::NotInt | ConfigErrorKind::InvalidInt | ConfigErrorKind::Index => Err(
                SelectError::new(not_int, format!("{}: {}", e.kind().python_exception(), e)),
            ),
            _ => Err(config_err(e)),
        },
    }
}

/// RETURNN's `config_get_final_epoch`: `num_epochs` (default 5), or
/// `max(num_epochs, load_epoch)` when the key `load_epoch` is present.
pub fn config_get_final_epoch(config: &Config) -> Result<i64, SelectError> {
    let num_epochs = match read_num_epochs(config) {
        // `max(None, config.int("load_epoch", 0))`: Python reads load_epoch before `max`
        // fails, so an error reading load_epoch comes first.
        Err(e) if e.kind() == &SelectErrorKind::NumEpochsNone && config.has("load_epoch") => {
            read_load_epoch_for_final(config)?;
            return Err(e);
        }
        r => r?,
    };
    if config.has("load_epoch") {
        return Ok(num_epochs.max(read_load_epoch_for_final(config)?));
    }
    Ok(num_epochs)
}

fn read_load_epoch_for_final(config: &Config) -> Result<i64, SelectError> {
    read_int(
        config,
        "load_epoch",
        0,
        SelectErrorKind::LoadEpochNotInt,
        SelectErrorKind::LoadEpochNone,
        "TypeError: '>' not supported between instances of 'NoneType' and 'int' (load_epoch=None; RETURNN computes max(num_epochs, load_epoch))",
    )
}

fn read_num_epochs(config: &Config) -> Result<i64, SelectError> {
    read_int(
        config,
        "num_epochs",
        5,
        SelectErrorKind::NumEpochsNotInt,
        SelectErrorKind::NumEpochsNone,
        if config.has("load_epoch") {
            "TypeError: '>' not supported between instances of 'int' and 'NoneType' (num_epochs=None; RETURNN computes max(num_epochs, load_epoch))"
        } else {
            "TypeError: unsupported operand type(s) for +: 'NoneType' and 'int' (num_epochs=None; RETURNN scans range(1, num_epochs + 1))"
        },
    )
}

/// RETURNN's `get_existing_models(config, for_training)`: epoch -> path without extension,
/// scanning epochs `1..=config_get_final_epoch(config)` only.
///
/// TF: the first hit of `<model>.NNN`, `<model>.NNN.index`, `<model>.pretrain.NNN`,
/// `<model>.pretrain.NNN.index` (a `.meta` or `.data-*` alone does not count).
/// Torch: `<model>.NNN`, or `<model>.NNN.pt` (with `for_training`, only if
/// `<model>.NNN.opt.pt` exists too).
pub fn get_existing_models(
    config: &Config,
    fs: &dyn Fs,
    backend: Backend,
    for_training: bool,
) -> Result<BTreeMap<Epoch, String>, SelectError> {
    let model = config.value("model", Some("")).map_err(config_err)?;
    let model = model.unwrap_or_default();
    if model.is_empty() {
        return Ok(BTreeMap::new());
    }
    let final_epoch = config_get_final_epoch(config)?;
    let mut out = BTreeMap::new();
    if final_epoch < 1 {
        return Ok(out);
    }
    let candidates: Vec<i64> = if final_epoch <= PROBE_LIMIT {
        (1..=final_epoch).collect()
    } else {
        listed_epochs(fs, &model, final_epoch)
    };
    for epoch in candidates {
        if let Some(path) = probe_epoch(fs, &model, epoch, backend, for_training) {
            out.insert(epoch as Epoch, path);
        }
    }
    Ok(out)
}

fn probe_epoch(
    fs: &dyn Fs,
    model: &str,
    epoch: i64,
    backend: Backend,
    for_training: bool,
) -> Option<String> {
    let pretrain_variants: &[bool] = match backend {
        Backend::TensorFlow => &[false, true],
        Backend::Torch => &[false],
    };
    for &pretrain in pretrain_variants {
        let name = epoch_model_filename(model, epoch, pretrain);
        if fs.exists(&name) {
            return Some(name);
        }
        match backend {
            Backend::TensorFlow => {
                if fs.exists(&format!("{name}.index")) {
                    return Some(name);
                }
            }
            Backend::Torch => {
                if fs.exists(&format!("{name}.pt")) {
                    if for_training && !fs.exists(&format!("{name}.opt.pt")) {
                        continue;
                    }
                    return Some(name);
                }
            }
        }
    }
    None
}

/// Epochs in `1..=final_epoch` that have a name in the model's directory that could be a
/// candidate (exact `%03d` formatting); each is then probed like RETURNN does.
fn listed_epochs(fs: &dyn Fs, model: &str, final_epoch: i64) -> Vec<i64> {
    let (dir, base) = match model.rfind('/') {
        Some(0) => ("/", &model[1..]),
        Some(p) => (&model[..p], &model[p + 1..]),
        None => (".", model),
    };
    let Some(names) = fs.list_dir(dir) else {
        return Vec::new();
    };
    let mut epochs: Vec<i64> = names
        .iter()
        .filter_map(|n| n.strip_prefix(base))
        .filter_map(|rest| {
            let rest = rest.strip_prefix(".pretrain").unwrap_or(rest);
            let rest = rest.strip_prefix('.')?;
            let digits_end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let digits = &rest[..digits_end];
            let e: i64 = digits.parse().ok()?;
            (e >= 1 && e <= final_epoch && crate::paths::py_03d(e) == digits).then_some(e)
        })
        .collect();
    epochs.sort_unstable();
    epochs.dedup();
    epochs
}

/// Python `repr((epoch, path))` for the log lines.
fn tuple_repr(epoch: Option<Epoch>, path: Option<&str>) -> String {
    let e = epoch.map_or("None".to_string(), |e| e.to_string());
    let p = path.map_or("None".to_string(), py_str_repr);
    format!("({e}, {p})")
}

/// What RETURNN's `__main__.execute_main_task` does to the config before the engine selects a model
/// (docs/returnn-engine.md §6.2): `task = "eval"` without `load` needs `epoch` or `load_epoch`
/// (`epoch` wins and is copied into `load_epoch`; both set must match), for every engine;
/// `task = "forward"`/`"hpx"` on the TF net-dict engine without a (typed, truthy)
/// `forward_callback` copies `epoch` into `load_epoch` (the RF-TF and Torch engines and
/// callback forwarding leave `epoch` alone). Other tasks: unchanged (`Ok(None)`).
pub fn main_task_config(config: &Config, engine: Engine) -> Result<Option<Config>, SelectError> {
    let task = config
        .value("task", Some("train"))
        .map_err(config_err)?
        .unwrap_or_else(|| "train".into());
    let epoch_none =
        "TypeError: '>=' not supported between instances of 'NoneType' and 'int' (epoch=None)";
    match task.as_str() {
        "eval" => {
            let load = config.value("load", None).map_err(config_err)?;
            if load.is_some_and(|l| !l.is_empty()) {
                return Ok(None);
            }
            let epoch = read_int(
                config,
                "epoch",
                -1,
                SelectErrorKind::EpochNotInt,
                SelectErrorKind::EpochNone,
                epoch_none,
            )?;
            let load_epoch = read_int(
                config,
                "load_epoch",
                -1,
                SelectErrorKind::LoadEpochNotInt,
                SelectErrorKind::LoadEpochNone,
                "TypeError: '<' not supported between instances of 'NoneType' and 'int' (load_epoch=None)",
            )?;
            if epoch >= 0 {
                if load_epoch >= 0 && load_epoch != epoch {
                    return Err(SelectError::new(
                        SelectErrorKind::EvalEpochMismatch,
                        format!("AssertionError: epoch and load_epoch have to match (task 'eval': epoch={epoch}, load_epoch={load_epoch})"),
                    ));
                }
                let mut c = config.clone();
                c.set("load_epoch", returnn_config::Value::Int(epoch));
                Ok(Some(c))
            } else if load_epoch >= 0 {
                Ok(None)
            } else {
                Err(SelectError::new(
                    SelectErrorKind::EvalEpochMissing,
                    "AssertionError: specify epoch or load_epoch (task 'eval' without 'load')",
                ))
            }
        }
        "forward" | "hpx" => {
            // `config.typed_value("forward_callback")`: only a typed value counts.
            let callback = config
                .get("forward_callback")
                .is_some_and(|v| v.truthy().unwrap_or(true));
            if callback || engine != Engine::TensorFlowNetDict || !config.has("epoch") {
                return Ok(None);
            }
            let epoch = read_int(
                config,
                "epoch",
                0,
                SelectErrorKind::EpochNotInt,
                SelectErrorKind::EpochNone,
                epoch_none,
            );
            let mut c = config.clone();
            match epoch {
                Ok(e) => c.set("load_epoch", returnn_config::Value::Int(e)),
                // config.int returned None: RETURNN sets load_epoch = None.
                Err(e) if e.kind() == &SelectErrorKind::EpochNone => {
                    c.set("load_epoch", returnn_config::Value::None)
                }
                Err(e) => return Err(e),
            }
            Ok(Some(c))
        }
        _ => Ok(None),
    }
}

/// What `returnn-ckpt resolve` answers, in RETURNN's `__main__` order: the engine
/// ([`Engine::from_config`], `init_backend_engine`), then `execute_main_task`'s config rules
/// ([`main_task_config`]), then [`get_epoch_model`] (+ `get_train_start_epoch` for the tasks
/// that call `init_train_from_config`). When the task rules changed the config, a note starting
/// with `resolve: ` says so (it is not a RETURNN log line).
pub fn resolve(config: &Config, fs: &dyn Fs) -> Result<Selection, SelectError> {
    let engine = Engine::from_config(config)?;
    match main_task_config(config, engine)? {
        Some(c) => {
            let mut sel = get_epoch_model_with(&c, fs, engine.backend())?;
            let epoch = c
                .get("load_epoch")
                .and_then(|v| v.py_repr())
                .unwrap_or_default();
            sel.notes.insert(
                0,
                format!(
                    "resolve: RETURNN's __main__ (task '{}') set load_epoch = {epoch} from the config's epoch before selecting the model",
                    sel.task
                ),
            );
            Ok(sel)
        }
        None => get_epoch_model_with(config, fs, engine.backend()),
    }
}

/// RETURNN's `get_epoch_model(config)` (docs/returnn-engine.md §5), plus `get_train_start_epoch`
/// (§5.5) for the tasks that call it. Uses the backend the config selects.
pub fn get_epoch_model(config: &Config, fs: &dyn Fs) -> Result<Selection, SelectError> {
    let backend = Backend::from_config(config)?;
    get_epoch_model_with(config, fs, backend)
}

/// [`get_epoch_model`] with an explicit backend.
pub fn get_epoch_model_with(
    config: &Config,
    fs: &dyn Fs,
    backend: Backend,
) -> Result<Selection, SelectError> {
    let task = config
        .value("task", Some("train"))
        .map_err(config_err)?
        .unwrap_or_else(|| "train".into());
    let computes_start = matches!(
        task.as_str(),
        "train" | "eval" | "initialize_model" | "nop_init_net_train"
    );
    if computes_start {
        // get_train_start_epoch checks start_batch before anything else.
        let start_batch = config
            .value("start_batch", Some("auto"))
            .map_err(config_err)?
            .unwrap_or_else(|| "auto".into());
        if start_batch != "auto" {
            return Err(SelectError::new(
                SelectErrorKind::StartBatchNotAuto,
                format!(
                    "Exception: custom start_batch {} not supported",
                    py_str_repr(&start_batch)
                ),
            ));
        }
    }
    let mut sel = select(config, fs, backend, &task)?;
    if computes_start {
        sel.start_epoch = Some(match sel.epoch {
            None => 1,
            Some(e) => e.checked_add(1).ok_or_else(|| {
                SelectError::new(
                    SelectErrorKind::EpochOverflow,
                    format!("the selected epoch {e} is the largest 64-bit number; the next epoch does not fit"),
                )
            })?,
        });
    }
    sel.task = task;
    Ok(sel)
}

fn select(
    config: &Config,
    fs: &dyn Fs,
    backend: Backend,
    task: &str,
) -> Result<Selection, SelectError> {
    let is_train = task == "train";
    let mut notes = Vec::new();
    let start_epoch = read_start_epoch(config)?;
    let raw_load = config
        .value("load", Some(""))
        .map_err(config_err)?
        .unwrap_or_default();
    let load = checked_load(fs, backend, &raw_load)?;
    let import = checked_import(config, fs, backend)?;
    let existing = get_existing_models(config, fs, backend, is_train)?;
    let (load, load_epoch) = apply_load_epoch(config, fs, &existing, load)?;
    let (epoch, model) = choose_model(
        is_train,
        start_epoch,
        &raw_load,
        load.as_deref(),
        load_epoch,
        &existing,
        &import,
        &mut notes,
    )?;
    let (epoch, model) = apply_start_epoch(start_epoch, epoch, model, &existing, &mut notes)?;
    Ok(Selection {
        epoch,
        model,
        start_epoch: None,
        existing,
        notes,
        task: String::new(),
    })
}

/// docs/returnn-engine.md §5.1 item 1: `start_epoch` is `auto` (None) or an integer >= 1.
fn read_start_epoch(config: &Config) -> Result<Option<Epoch>, SelectError> {
    let start_mode = config
        .value("start_epoch", Some("auto"))
        .map_err(config_err)?
        .unwrap_or_else(|| "auto".into());
    if start_mode == "auto" {
        return Ok(None);
    }
    match py_int_from_str(&start_mode) {
        Ok(Some(s)) if s >= 1 => Ok(Some(s as Epoch)),
        Ok(Some(s)) => Err(SelectError::new(
            SelectErrorKind::StartEpochLessThanOne,
            format!("AssertionError: start_epoch={s}, but it must be >= 1 (or 'auto')"),
        )),
        Ok(None) | Err(()) => Err(SelectError::new(
            SelectErrorKind::StartEpochNotInt,
            format!(
                "ValueError: invalid literal for int() with base 10: {} (start_epoch must be 'auto' or an integer >= 1)",
                py_str_repr(&start_mode)
            ),
        )),
    }
}

/// docs/returnn-engine.md §5.1 item 2: `load` (its pattern) must exist, with or without the
/// backend's model postfix.
fn checked_load(
    fs: &dyn Fs,
    backend: Backend,
    raw_load: &str,
) -> Result<Option<String>, SelectError> {
    let l = get_checkpoint_filepattern(raw_load);
    if l.is_empty() {
        return Ok(None);
    }
    let with_postfix = format!("{l}{}", backend.model_postfix());
    if !(fs.exists(&with_postfix) || fs.exists(l)) {
        return Err(SelectError::new(
            SelectErrorKind::LoadNotFound,
            format!(
                "AssertionError: config option load={}, file {} does not exist",
                py_str_repr(raw_load),
                py_str_repr(&with_postfix)
            ),
        ));
    }
    Ok(Some(l.to_string()))
}

/// docs/returnn-engine.md §5.1 item 3: `import_model_train_epoch1` (its pattern; "" if unset) must
/// exist with the backend's model postfix, whatever the task.
fn checked_import(config: &Config, fs: &dyn Fs, backend: Backend) -> Result<String, SelectError> {
    let raw_import = config
        .value("import_model_train_epoch1", Some(""))
        .map_err(config_err)?
        .unwrap_or_default();
    let import = get_checkpoint_filepattern(&raw_import).to_string();
    if !import.is_empty() {
        let with_postfix = format!("{import}{}", backend.model_postfix());
        if !fs.exists(&with_postfix) {
            return Err(SelectError::new(
                SelectErrorKind::ImportNotFound,
                format!(
                    "AssertionError: config option import_model_train_epoch1={}: file {} does not exist (RETURNN requires the {} file)",
                    py_str_repr(&raw_import),
                    py_str_repr(&with_postfix),
                    backend.model_postfix()
                ),
            ));
        }
    }
    Ok(import)
}

/// docs/returnn-engine.md §5.1 item 5: `load_epoch` — with `load`, the epoch of the loaded file
/// (from its name unless `load_epoch > 0`); without, a positive `load_epoch` selects that
/// existing model (whose file name must read as that epoch).
fn apply_load_epoch(
    config: &Config,
    fs: &dyn Fs,
    existing: &BTreeMap<Epoch, String>,
    load: Option<String>,
) -> Result<(Option<String>, Option<Epoch>), SelectError> {
    let load_epoch_cfg = read_int(
        config,
        "load_epoch",
        -1,
        SelectErrorKind::LoadEpochNotInt,
        SelectErrorKind::LoadEpochNone,
        if load.is_some() {
            "TypeError: '<=' not supported between instances of 'NoneType' and 'int' (load_epoch=None)"
        } else {
            "TypeError: '>' not supported between instances of 'NoneType' and 'int' (load_epoch=None)"
        },
    )?;
    if let Some(l) = &load {
        let e = if load_epoch_cfg <= 0 {
            model_epoch_from_filename(fs, l)?
        } else {
            Some(load_epoch_cfg as Epoch)
        };
        return Ok((load, e));
    }
    if load_epoch_cfg <= 0 {
        return Ok((None, None));
    }
    let le = load_epoch_cfg as Epoch;
    let Some(path) = existing.get(&le) else {
        return Err(SelectError::new(
            SelectErrorKind::LoadEpochMissing,
            format!(
                "AssertionError: load_epoch={le}, but there is no model for epoch {le} (existing epochs: {:?}; RETURNN asserts load_epoch in existing_models)",
                existing.keys().collect::<Vec<_>>()
            ),
        ));
    };
    let from_name = model_epoch_from_filename(fs, path)?;
    if from_name != Some(le) {
        return Err(SelectError::new(
            SelectErrorKind::LoadEpochSymlinkMismatch,
            format!(
                "AssertionError: load_epoch={le} selects {path}, but its file name reads as epoch {} (a .meta symlink to another epoch?)",
                from_name.map_or("None".to_string(), |e| e.to_string())
            ),
        ));
    }
    Ok((Some(path.clone()), Some(le)))
}

/// docs/returnn-engine.md §5.2: the model and epoch (`load` outside training or with a
/// `start_epoch`; else the newest existing model; else `import_model_train_epoch1` at epoch 0;
/// else `load`).
#[allow(clippy::too_many_arguments)]
fn choose_model(
    is_train: bool,
    start_epoch: Option<Epoch>,
    raw_load: &str,
    load: Option<&str>,
    load_epoch: Option<Epoch>,
    existing: &BTreeMap<Epoch, String>,
    import: &str,
    notes: &mut Vec<String>,
) -> Result<(Option<Epoch>, Option<String>), SelectError> {
    if let Some(load) = load.filter(|_| !is_train || start_epoch.is_some()) {
        if !is_train {
            return Ok((load_epoch, Some(load.to_string())));
        }
        let s = start_epoch.unwrap_or(1);
        // RETURNN tests the raw `config.value("load", "")` here, not the normalized pattern:
        // `load = ".meta"` (pattern "") with `load_epoch` is an import.
        if s > 1 && raw_load.is_empty() {
            // L came from load_epoch (pip behaviour).
            if load_epoch != Some(s - 1) {
                return Err(SelectError::new(
                    SelectErrorKind::StartEpochInconsistent,
                    format!(
                        "ValueError: start_epoch {s} with load_epoch {} is inconsistent: continuing the training at start_epoch loads epoch {}. To import a model for a new training, use 'load' or 'import_model_train_epoch1'.",
                        load_epoch.map_or("None".to_string(), |e| e.to_string()),
                        s - 1
                    ),
                ));
            }
            return Ok((load_epoch, Some(load.to_string())));
        }
        return Ok((None, Some(load.to_string())));
    }
    if let Some((&e, p)) = existing.iter().next_back() {
        if load.is_some() {
            notes.push("note: there is a 'load' which we ignore because of existing model".into());
        }
        return Ok((Some(e), Some(p.clone())));
    }
    if is_train && !import.is_empty() && matches!(start_epoch, None | Some(1)) {
        return Ok((Some(0), Some(import.to_string())));
    }
    Ok(match load {
        Some(l) => (load_epoch, Some(l.to_string())),
        None => (None, None),
    })
}

/// docs/returnn-engine.md §5.3: `start_epoch` after the choice — 1 with an existing model starts
/// over; `s > 1` continues from epoch `s - 1`, which must exist.
fn apply_start_epoch(
    start_epoch: Option<Epoch>,
    epoch: Option<Epoch>,
    model: Option<String>,
    existing: &BTreeMap<Epoch, String>,
    notes: &mut Vec<String>,
) -> Result<(Option<Epoch>, Option<String>), SelectError> {
    let truthy = matches!(epoch, Some(e) if e != 0);
    if truthy && start_epoch == Some(1) {
        notes.push(format!(
            "warning: there is an existing model: {}",
            tuple_repr(epoch, model.as_deref())
        ));
        return Ok((None, None));
    }
    let Some(s) = start_epoch.filter(|&s| truthy && s > 1) else {
        return Ok((epoch, model));
    };
    if epoch != Some(s - 1) {
        notes.push(format!(
            "warning: start_epoch {s} but there is {}",
            tuple_repr(epoch, model.as_deref())
        ));
    }
    match existing.get(&(s - 1)) {
        Some(p) => Ok((Some(s - 1), Some(p.clone()))),
        None => Err(SelectError::new(
            SelectErrorKind::StartEpochModelMissing,
            format!(
                "KeyError: {} (start_epoch {s} continues from epoch {}, but there is no model for it; existing epochs: {:?})",
                s - 1,
                s - 1,
                existing.keys().collect::<Vec<_>>()
            ),
        )),
    }
}
