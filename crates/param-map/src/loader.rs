//! One `CustomCheckpointLoader` (docs/returnn-mapping.md §2-§8): constructor filtering, the fast
//! path, the slow path's name map (heuristics, rename table, CuDNN, `var_name_mapping`) and
//! resolution, computed on names and shapes only.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use tf_bundle::DType;

use crate::array::{py_shape, Array};
use crate::convert::{BlockPart, NativePart, Transform};
use crate::error::{MapError, MapErrorKind};

/// A variable of the network to be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetVar {
    /// Graph name without the `:0` output index (e.g. `l1/W`).
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    /// True for layer parameters (`network.get_params_list()`, what `preload_from_files`
    /// loads); false for other saveables such as `global_step`, which only the main checkpoint
    /// load (`get_saveable_params_list()`) handles.
    pub layer_param: bool,
    /// `add_param(non_critical_for_restore=True)`: never counted as missing
    /// (docs/returnn-mapping.md R-NC).
    pub non_critical: bool,
}

impl TargetVar {
    /// A layer parameter; `global_step` and optimizer variables (`optimize/...`, saved with
    /// `debug_save_updater_vars`) are recognised as non-layer saveables.
    pub fn new(name: impl Into<String>, dtype: DType, shape: Vec<u64>) -> TargetVar {
        let name = name.into();
        let layer_param = name != "global_step" && !name.starts_with("optimize/");
        TargetVar {
            name,
            dtype,
            shape,
            layer_param,
            non_critical: false,
        }
    }

    /// Python repr of the TF variable, as RETURNN's messages show it.
    pub fn py_repr(&self) -> String {
        format!(
            "<tf.Variable '{}:0' shape={} dtype={}>",
            self.name,
            py_shape(&self.shape),
            self.dtype
        )
    }
}

/// Name, dtype and shape of a checkpoint tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorMeta {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
}

/// A source checkpoint: its tensor list, and whole-tensor reads (called only by
/// [`Assignment::evaluate`], never while planning).
pub trait TensorSource {
    /// The file as the config names it (used in plans and messages).
    fn file(&self) -> &str;
    /// Every tensor of the checkpoint (like `tf.train.list_variables`).
    fn tensors(&self) -> &[TensorMeta];
    /// Reads one numeric tensor.
    fn read(&self, key: &str) -> Result<Array, MapError>;
}

/// The options of one loader: a `preload_from_files` entry or the main checkpoint load.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoaderOptions {
    /// Checkpoint path as given (`.meta`/`.index`/`.pt` already stripped or not: only shown).
    pub filename: String,
    /// The network's name scope (`""` at the root, `sub/` for a subnetwork).
    pub params_prefix: String,
    /// The entry's `prefix` (RETURNN's `load_if_prefix`: substring filter + replace-all).
    pub load_if_prefix: String,
    pub ignore_missing: bool,
    /// Exact ckpt-side names never loaded.
    pub ignore_params: Vec<String>,
    /// ckpt-side name prefixes never loaded (plain `startswith`).
    pub ignore_params_prefixes: Vec<String>,
    /// ckpt-side name -> checkpoint key, used for missing names only.
    pub var_name_mapping: BTreeMap<String, String>,
    /// `network=` of the loader repr: `None` for preload entries.
    pub network: Option<String>,
    /// Custom param importers of the network's top-level layers (only loaders that get
    /// `network=`, i.e. the main checkpoint load; docs/returnn-mapping.md §9).
    pub importers: Vec<Importer>,
}

/// A layer's `custom_param_importer` (string modes; callables cannot be run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Importer {
    /// Layer name (for messages).
    pub layer: String,
    /// The layer's absolute name scope prefix with trailing `/` (`l1/`, `lstm/rec/`).
    pub prefix: String,
    pub mode: ImporterMode,
}

/// `custom_param_importer` string modes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImporterMode {
    /// Nothing is assigned.
    Reset,
    /// Same shape -> assigned; other shape -> skipped.
    IfPossible,
    /// Same shape -> assigned; other shape -> overlap copied into the current value (needs the
    /// variable's random init: not supported here).
    Subset,
    /// Any other truthy string: RETURNN raises a bare `AssertionError`.
    Other(String),
}

impl ImporterMode {
    /// Parses RETURNN's string mode.
    pub fn parse(s: &str) -> ImporterMode {
        match s {
            "reset" => ImporterMode::Reset,
            "ifpossible" => ImporterMode::IfPossible,
            "subset" => ImporterMode::Subset,
            other => ImporterMode::Other(other.to_string()),
        }
    }
    fn label(&self) -> &str {
        match self {
            ImporterMode::Reset => "reset",
            ImporterMode::IfPossible => "ifpossible",
            ImporterMode::Subset => "subset",
            ImporterMode::Other(s) => s,
        }
    }
}

impl LoaderOptions {
    /// RETURNN's loader repr (its `filename` always shows `'<unset>'`, see
    /// docs/returnn-mapping.md §2 step 1).
    pub fn py_repr(&self) -> String {
        format!(
            "CustomCheckpointLoader(filename='<unset>', params_prefix={}, load_if_prefix={}, ignore_missing={}, network={})",
            py_str(&self.params_prefix),
            py_str(&self.load_if_prefix),
            if self.ignore_missing { "True" } else { "False" },
            self.network.as_deref().unwrap_or("None")
        )
    }
}

/// Python's `repr` of a str (RETURNN's messages quote names this way): the one implementation,
/// in returnn-config.
pub use returnn_config::value::py_str_repr as py_str;

/// Python repr of a list of str.
pub fn py_str_list<S: AsRef<str>>(items: &[S]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| py_str(s.as_ref()))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Which rule produced a variable's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Same name in the checkpoint.
    Direct,
    /// Same name after `params_prefix` / `prefix` removal.
    Prefix,
    /// An explicit `var_name_mapping` entry.
    VarNameMapping,
    /// An automatic rename (rename table row `old->new`, or `batch_norm_to_v1`).
    Rename(String),
    /// An automatic value conversion (kind = [`Transform::kind`]).
    Convert(String),
}

impl Rule {
    /// The plan's rule label: `direct`, `prefix`, `var_name_mapping`, `rename:<rule>`,
    /// `convert:<kind>`.
    pub fn label(&self) -> String {
        match self {
            Rule::Direct => "direct".into(),
            Rule::Prefix => "prefix".into(),
            Rule::VarNameMapping => "var_name_mapping".into(),
            Rule::Rename(r) => format!("rename:{r}"),
            Rule::Convert(k) => format!("convert:{k}"),
        }
    }
}

/// How one variable gets its value: from which checkpoint keys, by which rule and transform.
/// Shapes and dtypes were checked while planning; [`Assignment::evaluate`] reads and computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// Target variable (graph name).
    pub var: String,
    /// The ckpt-side name of the variable.
    pub ckpt_name: String,
    /// Source checkpoint file.
    pub file: String,
    /// The preload entry key, or `load` for the main checkpoint.
    pub entry: String,
    /// Source keys, in the transform's input order.
    pub keys: Vec<String>,
    pub rule: Rule,
    pub transform: Transform,
    /// Dtype and shape the transform produces from the sources.
    pub source_dtype: DType,
    /// Dtype and shape written (the variable's).
    pub dtype: DType,
    pub shape: Vec<u64>,
}

impl Assignment {
    /// Reads the source tensors and computes the value, converted to the variable's dtype.
    pub fn evaluate(&self, src: &dyn TensorSource) -> Result<Array, MapError> {
        let mut inputs = Vec::with_capacity(self.keys.len());
        for k in &self.keys {
            inputs.push(
                src.read(k)
                    .map_err(|e| e.with_var(k.clone()).with_file(src.file()))?,
            );
        }
        let value = self
            .transform
            .apply(inputs)
            .map_err(|e| e.with_var(self.var.clone()).with_file(self.file.clone()))?;
        if value.shape != self.shape {
            return Err(
                shape_error(&self.var, &value.shape, &self.shape, &self.keys)
                    .with_file(self.file.clone()),
            );
        }
        value
            .cast(self.dtype)
            .map_err(|e| e.with_var(self.var.clone()).with_file(self.file.clone()))
    }
}

fn shape_error(var: &str, found: &[u64], want: &[u64], keys: &[String]) -> MapError {
    MapError::new(
        MapErrorKind::ShapeMismatch,
        format!(
            "Cannot feed value of shape {} for variable '{var}', which has shape {} (value from checkpoint key(s) {})",
            py_shape(found),
            py_shape(want),
            py_str_list(keys)
        ),
    )
    .with_var(var)
}

/// What one loader did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoaderOutcome {
    /// (index into the given params, assignment), in param order.
    pub assigned: Vec<(usize, Assignment)>,
    /// Kept params with no value, skipped under `ignore_missing` (or non-critical).
    pub missing_ignored: Vec<usize>,
    /// Params dropped by `ignore_params` / `ignore_params_prefixes`.
    pub ignored: Vec<usize>,
    /// Params skipped because an earlier loader registered them.
    pub preinitialized: Vec<usize>,
    /// Params kept but registered without a value (fast path, non-critical, no `ignore_missing`):
    /// later loaders skip them; RETURNN's hook would raise `KeyError` if it ran
    /// (docs/returnn-mapping.md §10), which it does for `load_on_init` (at `initialize_params`) but
    /// not for preload entries (they run after `initialize_params`; `load_now` writes the values).
    pub registered_without_value: Vec<usize>,
    /// True if the slow path was taken.
    pub slow_path: bool,
    /// Human-readable log of what happened (RETURNN's log lines, shortened).
    pub notes: Vec<String>,
}

/// A lazy producer of the name map: keys + transform + rule.
#[derive(Clone, Debug)]
struct Producer {
    keys: Vec<String>,
    transform: Transform,
    rule: Rule,
    /// `(kernel, bias)` RETURNN reads and checks together for the BasicLSTM -> NativeLSTM
    /// split, whichever of the two the value depends on.
    basic_pair: Option<(String, String)>,
}

/// The fixed rename table (old checkpoint suffix, new model suffix), in RETURNN's order.
pub const RENAME_TABLE: [(&str, &str); 8] = [
    ("lstm_cell/biases", "lstm_cell/bias"),
    ("lstm_cell/weights", "lstm_cell/kernel"),
    ("lstm_cell/bias", "rnn/lstm_cell/bias"),
    ("lstm_cell/kernel", "rnn/lstm_cell/weights"),
    ("rnn/lstm_cell/bias", "lstm_cell/bias"),
    ("rnn/lstm_cell/kernel", "lstm_cell/kernel"),
    (
        "cudnn/params_canonical/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell/bias",
        "lstm_fused_cell/bias",
    ),
    (
        "cudnn/params_canonical/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell/kernel",
        "lstm_fused_cell/kernel",
    ),
];

const CUDNN_POSTFIX: &str = "/cudnn/CudnnRNNParamsToCanonical:0";

/// The ckpt-side name of a graph name (docs/returnn-mapping.md §3); `Ok(None)` = not handled
/// (load_if_prefix absent).
pub fn ckpt_side_name(opts: &LoaderOptions, var: &TargetVar) -> Result<Option<String>, MapError> {
    let mut name = var.name.as_str();
    if !opts.params_prefix.is_empty() {
        match name.strip_prefix(opts.params_prefix.as_str()) {
            Some(rest) => name = rest,
            None => {
                return Err(MapError::new(
                    MapErrorKind::ParamsPrefixMismatch,
                    format!(
                        "did not expect {} (params_prefix {})",
                        var.py_repr(),
                        py_str(&opts.params_prefix)
                    ),
                )
                .with_var(var.name.clone()))
            }
        }
    }
    if !opts.load_if_prefix.is_empty() {
        if !name.contains(opts.load_if_prefix.as_str()) {
            return Ok(None);
        }
        return Ok(Some(name.replace(opts.load_if_prefix.as_str(), "")));
    }
    Ok(Some(name.to_string()))
}

/// Plans one loader over `params` (in the order the loader gets them).
///
/// * `entry`: the preload key or `load` (shown in the plan).
/// * `preinitialized(i)`: whether `params[i]` already has a custom-init hook
///   (docs/returnn-mapping.md R-CTOR-4).
/// * `src`: the opened checkpoint, or the error opening it (raised after the constructor's
///   filtering, where RETURNN opens the reader).
/// * `register`: `true` for `set_as_custom_init` semantics (preload, `load_on_init`): a
///   non-critical var skipped on the fast path without `ignore_missing` is then registered
///   without a value ([`LoaderOutcome::registered_without_value`]).
pub fn plan_loader(
    entry: &str,
    opts: &LoaderOptions,
    params: &[&TargetVar],
    preinitialized: &dyn Fn(usize) -> bool,
    src: Result<&dyn TensorSource, MapError>,
    register: bool,
) -> Result<LoaderOutcome, MapError> {
    let mut out = LoaderOutcome::default();
    let kept = constructor_filter(entry, opts, params, preinitialized, &mut out)?;
    let src = src?;
    let cx = Loader {
        entry,
        opts,
        params,
        file: src.file().to_string(),
        all: src.tensors().iter().map(|t| (t.name.as_str(), t)).collect(),
    };
    let sets = CheckpointSets::new(&cx, &kept);
    if sets.missing.is_empty() && opts.importers.is_empty() {
        cx.fast_path(&kept, &sets, register, &mut out)?;
    } else {
        cx.slow_path(&kept, &sets, &mut out)?;
    }
    cx.check_assignments(&out)?;
    Ok(out)
}

/// docs/returnn-mapping.md §2 (the constructor): every param's checkpoint-side name, dropped by
/// `ignore_params(_prefixes)` or skipped when an earlier loader registered it; the params kept,
/// with their names. No saveable var at all is RETURNN's `AssertionError`.
fn constructor_filter(
    entry: &str,
    opts: &LoaderOptions,
    params: &[&TargetVar],
    preinitialized: &dyn Fn(usize) -> bool,
    out: &mut LoaderOutcome,
) -> Result<Vec<(usize, String)>, MapError> {
    let mut kept: Vec<(usize, String)> = Vec::new();
    let mut count = 0usize;
    for (i, var) in params.iter().enumerate() {
        let Some(name) = ckpt_side_name(opts, var)? else {
            continue;
        };
        if opts.ignore_params.contains(&name)
            || opts
                .ignore_params_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()))
        {
            out.notes
                .push(format!("[{entry}] Ignoring variable {}", var.name));
            out.ignored.push(i);
            continue;
        }
        count += 1;
        if preinitialized(i) {
            out.notes.push(format!(
                "[{entry}] Not loading pre-initialized variable {}",
                var.name
            ));
            out.preinitialized.push(i);
            continue;
        }
        kept.push((i, name));
    }
    if count == 0 {
        return Err(MapError::new(
            MapErrorKind::NoSaveableVars,
            format!("{}: no saveable vars", opts.py_repr()),
        )
        .with_file(opts.filename.clone()));
    }
    Ok(kept)
}

/// One loader at work: its options, the params, and the checkpoint's tensor list.
struct Loader<'a> {
    entry: &'a str,
    opts: &'a LoaderOptions,
    params: &'a [&'a TargetVar],
    file: String,
    all: BTreeMap<&'a str, &'a TensorMeta>,
}

/// The name sets RETURNN's loader computes (docs/returnn-mapping.md §2 steps 4-6): the
/// checkpoint keys left after the importers took theirs (C), the missing names (M) and the
/// obsolete keys (O).
struct CheckpointSets<'a> {
    ckpt: BTreeMap<&'a str, &'a TensorMeta>,
    importer_keys: Vec<Vec<String>>,
    missing: Vec<&'a str>,
    missing_set: BTreeSet<&'a str>,
    obsolete: BTreeSet<&'a str>,
}

impl<'a> CheckpointSets<'a> {
    fn new(cx: &Loader<'a>, kept: &'a [(usize, String)]) -> CheckpointSets<'a> {
        let opts = cx.opts;
        // §2 step 6: importers take every checkpoint key under their prefix out of C (and so
        // out of M and O).
        let mut ckpt = cx.all.clone();
        let mut importer_keys: Vec<Vec<String>> = Vec::with_capacity(opts.importers.len());
        for imp in &opts.importers {
            let taken: Vec<String> = ckpt
                .keys()
                .filter(|k| k.starts_with(imp.prefix.as_str()))
                .map(|k| k[imp.prefix.len()..].to_string())
                .collect();
            ckpt.retain(|k, _| !k.starts_with(imp.prefix.as_str()));
            importer_keys.push(taken);
        }
        let under_importer = |n: &str| -> bool {
            opts.importers
                .iter()
                .any(|imp| n.starts_with(imp.prefix.as_str()))
        };
        let net_names: BTreeSet<&str> = kept.iter().map(|(_, n)| n.as_str()).collect();
        // RETURNN's var_net_names: when two params share a ckpt-side name, the later one wins,
        // and only its non-critical flag counts (the other one is loaded through the same name).
        let mut net_flag: BTreeMap<&str, bool> = BTreeMap::new();
        for (i, n) in kept {
            net_flag.insert(n.as_str(), cx.params[*i].non_critical);
        }
        let nc_names: BTreeSet<&str> = net_flag
            .iter()
            .filter(|(_, nc)| **nc)
            .map(|(n, _)| *n)
            .collect();
        let missing: Vec<&str> = net_names
            .iter()
            .copied()
            .filter(|n| !ckpt.contains_key(n) && !nc_names.contains(n) && !under_importer(n))
            .collect();
        let missing_set: BTreeSet<&str> = missing.iter().copied().collect();
        let obsolete: BTreeSet<&str> = ckpt
            .keys()
            .copied()
            .filter(|k| !net_names.contains(k))
            .collect();
        CheckpointSets {
            ckpt,
            importer_keys,
            missing,
            missing_set,
            obsolete,
        }
    }
}

impl Loader<'_> {
    /// The value of param `i` read directly from checkpoint key `name` (its own name, or with
    /// the prefix removed).
    fn direct(&self, i: usize, name: &str) -> Result<Assignment, MapError> {
        let var = self.params[i];
        let Some(m) = self.all.get(name) else {
            return Err(key_not_found(name).with_file(self.file.clone()));
        };
        Ok(Assignment {
            var: var.name.clone(),
            ckpt_name: name.to_string(),
            file: self.file.clone(),
            entry: self.entry.to_string(),
            keys: vec![name.to_string()],
            rule: if name == var.name {
                Rule::Direct
            } else {
                Rule::Prefix
            },
            transform: Transform::Identity,
            source_dtype: m.dtype,
            dtype: var.dtype,
            shape: m.shape.clone(),
        })
    }

    /// docs/returnn-mapping.md §4, the fast path (nothing missing, no importer): every kept
    /// param read under its own checkpoint-side name.
    fn fast_path(
        &self,
        kept: &[(usize, String)],
        sets: &CheckpointSets<'_>,
        register: bool,
        out: &mut LoaderOutcome,
    ) -> Result<(), MapError> {
        for (i, name) in kept {
            if sets.ckpt.contains_key(name.as_str()) {
                out.assigned.push((*i, self.direct(*i, name)?));
            } else if !self.params[*i].non_critical {
                // A critical param whose ckpt-side name is shared with a later non-critical
                // one (which decided that the name is not "missing"): RETURNN's fast path
                // raises for it.
                return Err(MapError::new(
                    MapErrorKind::MissingVars,
                    format!("var {} not found in checkpoint", py_str(name)),
                )
                .with_var(self.params[*i].name.clone())
                .with_file(self.file.clone()));
            } else if register && !self.opts.ignore_missing {
                out.registered_without_value.push(*i);
            } else {
                out.missing_ignored.push(*i);
            }
        }
        Ok(())
    }

    /// docs/returnn-mapping.md §5-§9, the slow path: the name map for the missing names
    /// (renames, LSTM and batch-norm conversions, `var_name_mapping`), the importers, and
    /// RETURNN's errors when something stays unresolved.
    fn slow_path(
        &self,
        kept: &[(usize, String)],
        sets: &CheckpointSets<'_>,
        out: &mut LoaderOutcome,
    ) -> Result<(), MapError> {
        let (entry, opts) = (self.entry, self.opts);
        out.slow_path = true;
        out.notes.push(format!(
            "[{entry}] Variables to restore which are not in checkpoint: {}",
            py_str_list(&sets.missing)
        ));
        let map = build_name_map(&sets.missing, &sets.missing_set, &sets.obsolete, opts);
        let unresolved: Vec<&str> = sets
            .missing
            .iter()
            .copied()
            .filter(|n| !map.contains_key(*n))
            .collect();
        if !opts.ignore_missing && !unresolved.is_empty() {
            return Err(MapError::new(
                MapErrorKind::MissingVars,
                format!(
                    "CustomCheckpointLoader. could_not_find_map_list: {}",
                    py_str_list(&unresolved)
                ),
            )
            .with_file(self.file.clone()));
        }
        let mut importer_done = vec![false; opts.importers.len()];
        let mut got_value = 0usize;
        for (i, name) in kept {
            let var = self.params[*i];
            if let Some(ix) = opts
                .importers
                .iter()
                .position(|imp| name.starts_with(imp.prefix.as_str()))
            {
                // §9: routed to the layer's importer, which assigns all its keys at once.
                got_value += 1;
                if !importer_done[ix] {
                    importer_done[ix] = true;
                    run_importer(
                        entry,
                        &opts.importers[ix],
                        &opts.var_name_mapping,
                        &sets.importer_keys[ix],
                        kept,
                        self.params,
                        &self.all,
                        &self.file,
                        out,
                    )?;
                }
            } else if sets.ckpt.contains_key(name.as_str()) {
                got_value += 1;
                out.assigned.push((*i, self.direct(*i, name)?));
            } else if let Some(p) = map.get(name.as_str()) {
                got_value += 1;
                out.assigned.push((*i, self.mapped(*i, name, p)?));
            } else if opts.ignore_missing {
                out.notes.push(format!(
                    "[{entry}] Warning, did not find match for var {} ({}) in checkpoint {}",
                    var.name,
                    py_str(name),
                    py_str(&self.file)
                ));
                out.missing_ignored.push(*i);
            } else {
                return Err(MapError::new(
                    MapErrorKind::NonCriticalMissing,
                    format!(
                        "KeyError({}): non-critical variable missing in the checkpoint without ignore_missing",
                        py_str(name)
                    ),
                )
                .with_var(var.name.clone())
                .with_file(self.file.clone()));
            }
        }
        if got_value == 0 {
            let saveable: Vec<String> = kept
                .iter()
                .map(|(i, _)| self.params[*i].py_repr())
                .collect();
            return Err(MapError::new(
                MapErrorKind::NoVarsToLoad,
                format!(
                    "no vars to load; saveable vars are [{}]. load_if_prefix {}.",
                    saveable.join(", "),
                    py_str(&opts.load_if_prefix)
                ),
            )
            .with_file(self.file.clone()));
        }
        Ok(())
    }

    /// The value of param `i` through the name map's producer `p` (its keys must all exist;
    /// the conversion's shape checks run now).
    fn mapped(&self, i: usize, name: &str, p: &Producer) -> Result<Assignment, MapError> {
        let var = self.params[i];
        let err = |e: MapError| e.with_var(var.name.clone()).with_file(self.file.clone());
        let mut metas = Vec::with_capacity(p.keys.len());
        for k in &p.keys {
            match self.all.get(k.as_str()) {
                Some(m) => metas.push((m.dtype, m.shape.clone())),
                None => return Err(err(key_not_found(k))),
            }
        }
        if let Some((k, b)) = &p.basic_pair {
            let (Some(km), Some(bm)) = (self.all.get(k.as_str()), self.all.get(b.as_str())) else {
                let absent = if self.all.contains_key(k.as_str()) {
                    b
                } else {
                    k
                };
                return Err(err(key_not_found(absent)));
            };
            crate::convert::check_basic_pair(&km.shape, &bm.shape).map_err(err)?;
        }
        let (dtype, shape) = p.transform.output_meta(&metas).map_err(err)?;
        Ok(Assignment {
            var: var.name.clone(),
            ckpt_name: name.to_string(),
            file: self.file.clone(),
            entry: self.entry.to_string(),
            keys: p.keys.clone(),
            rule: p.rule.clone(),
            transform: p.transform,
            source_dtype: dtype,
            dtype: var.dtype,
            shape,
        })
    }

    /// docs/returnn-mapping.md §8, §10: values are fed to the variables in param order: shapes
    /// must match, dtypes must be castable.
    fn check_assignments(&self, out: &LoaderOutcome) -> Result<(), MapError> {
        for (i, a) in &out.assigned {
            let var = self.params[*i];
            if a.shape != var.shape {
                return Err(
                    shape_error(&a.var, &a.shape, &var.shape, &a.keys).with_file(self.file.clone())
                );
            }
            if a.source_dtype != var.dtype
                && !(crate::array::castable(a.source_dtype) && crate::array::castable(var.dtype))
            {
                return Err(MapError::new(
                    MapErrorKind::DtypeMismatch,
                    format!(
                        "cannot convert the {} value of checkpoint key(s) {} to variable '{}' of dtype {}",
                        a.source_dtype,
                        py_str_list(&a.keys),
                        a.var,
                        var.dtype
                    ),
                )
                .with_var(a.var.clone())
                .with_file(self.file.clone()));
            }
        }
        Ok(())
    }
}

/// A custom param importer's one-time assignment (docs/returnn-mapping.md §9, R-IMP-1..5):
/// `values_dict` = every checkpoint key it took, relative to its prefix; the mode decides what is
/// assigned.
#[allow(clippy::too_many_arguments)]
fn run_importer(
    entry: &str,
    imp: &Importer,
    var_name_mapping: &BTreeMap<String, String>,
    keys: &[String],
    kept: &[(usize, String)],
    params: &[&TargetVar],
    all: &BTreeMap<&str, &TensorMeta>,
    file: &str,
    out: &mut LoaderOutcome,
) -> Result<(), MapError> {
    let layer_repr = format!("<layer {}>", py_str(&imp.layer));
    match &imp.mode {
        ImporterMode::Reset => {
            out.notes.push(format!(
                "[{entry}] custom_param_importer 'reset' of layer '{}': its parameters keep their fresh init",
                imp.layer
            ));
            return Ok(());
        }
        ImporterMode::Other(m) => {
            return Err(MapError::new(
                MapErrorKind::ImporterFailed,
                format!(
                    "AssertionError: {layer_repr}: unknown custom_param_importer mode {}",
                    py_str(m)
                ),
            )
            .with_file(file));
        }
        ImporterMode::IfPossible | ImporterMode::Subset => {}
    }
    out.notes.push(format!(
        "[{entry}] Custom param import of layer '{}' ({}) with original params {}",
        imp.layer,
        imp.mode.label(),
        py_str_list(keys)
    ));
    // values_dict = {rel: tensor(var_name_mapping.get(rel, prefix + rel))}: every value is read
    // before any is assigned (docs/returnn-mapping.md R-IMP-2: the mapping is looked up with the
    // relative key).
    let mut sources: Vec<(&String, String, &TensorMeta)> = Vec::with_capacity(keys.len());
    for rel in keys {
        let key = var_name_mapping
            .get(rel)
            .cloned()
            .unwrap_or_else(|| format!("{}{rel}", imp.prefix));
        let Some(meta) = all.get(key.as_str()).copied() else {
            return Err(key_not_found(&key).with_file(file));
        };
        sources.push((rel, key, meta));
    }
    for (rel, key, meta) in sources {
        let ckpt_name = format!("{}{rel}", imp.prefix);
        let Some((i, _)) = kept.iter().find(|(_, n)| *n == ckpt_name) else {
            if params.iter().any(|v| v.name == ckpt_name) {
                out.notes.push(format!(
                    "[{entry}] custom_param_importer of layer '{}': {ckpt_name} is not assigned (already initialised or ignored)",
                    imp.layer
                ));
                continue;
            }
            return Err(MapError::new(
                MapErrorKind::ImporterFailed,
                format!(
                    "AssertionError: {layer_repr}: param {} unknown",
                    py_str(rel)
                ),
            )
            .with_var(ckpt_name)
            .with_file(file));
        };
        let var = params[*i];
        if meta.shape == var.shape {
            out.assigned.push((
                *i,
                Assignment {
                    var: var.name.clone(),
                    ckpt_name: ckpt_name.clone(),
                    file: file.to_string(),
                    entry: entry.to_string(),
                    keys: vec![key.clone()],
                    rule: if key != ckpt_name {
                        Rule::VarNameMapping
                    } else if ckpt_name == var.name {
                        Rule::Direct
                    } else {
                        Rule::Prefix
                    },
                    transform: Transform::Identity,
                    source_dtype: meta.dtype,
                    dtype: var.dtype,
                    shape: meta.shape.clone(),
                },
            ));
        } else if imp.mode == ImporterMode::IfPossible {
            out.notes.push(format!(
                "[{entry}] custom_param_importer 'ifpossible' of layer '{}': {} not loaded, shape {} in the checkpoint vs {}",
                imp.layer,
                var.name,
                py_shape(&meta.shape),
                py_shape(&var.shape)
            ));
        } else {
            return Err(MapError::new(
                MapErrorKind::Unsupported,
                format!(
                    "custom_param_importer 'subset' of layer '{}' copies the overlap of {} {} into the variable's current value {}: the result depends on the random init, which returnn-ckpt cannot reproduce",
                    imp.layer,
                    key,
                    py_shape(&meta.shape),
                    py_shape(&var.shape)
                ),
            )
            .with_var(var.name.clone())
            .with_file(file));
        }
    }
    Ok(())
}

fn key_not_found(key: &str) -> MapError {
    MapError::new(
        MapErrorKind::KeyNotFound,
        format!("Key {key} not found in checkpoint"),
    )
    .with_var(key)
}

/// The slow path's name map (docs/returnn-mapping.md §5), in RETURNN's order: per missing name the
/// LSTM and batch-norm heuristics, per obsolete key the rename table and CuDNN detection, then
/// `var_name_mapping`.
fn build_name_map(
    missing: &[&str],
    missing_set: &BTreeSet<&str>,
    obsolete: &BTreeSet<&str>,
    opts: &LoaderOptions,
) -> BTreeMap<String, Producer> {
    let mut map: BTreeMap<String, Producer> = BTreeMap::new();
    for &v in missing {
        map_native_to_basic(v, obsolete, &mut map);
        map_basic_to_native(v, missing_set, obsolete, &mut map);
        map_batch_norm(v, obsolete, &mut map);
    }
    for &k in obsolete {
        map_rename_table(k, missing_set, &mut map);
        map_cudnn(k, &mut map);
    }
    // docs/returnn-mapping.md §5 step 3: every var_name_mapping entry, unconditionally.
    for (from, to) in &opts.var_name_mapping {
        map.insert(from.clone(), renamed(to.clone(), Rule::VarNameMapping));
    }
    map
}

/// A producer that converts `keys` with `t`.
fn converted(keys: Vec<String>, t: Transform) -> Producer {
    Producer {
        keys,
        transform: t,
        rule: Rule::Convert(t.kind().unwrap_or("identity").to_string()),
        basic_pair: None,
    }
}

/// A producer that reads `key` unchanged under another name.
fn renamed(key: String, rule: Rule) -> Producer {
    Producer {
        keys: vec![key],
        transform: Transform::Identity,
        rule,
        basic_pair: None,
    }
}

/// docs/returnn-mapping.md §6.1 NativeLSTM -> Basic/Standard LSTM kernel (first matching
/// postfix wins) and §6.2 its bias (no early stop: the last matching postfix wins).
fn map_native_to_basic(v: &str, obsolete: &BTreeSet<&str>, map: &mut BTreeMap<String, Producer>) {
    for postfix in [
        "/rnn/lstm_cell/kernel",
        "/lstm_cell/kernel",
        "/rnn/basic_lstm_cell/kernel",
        "/basic_lstm_cell/kernel",
    ] {
        if let Some(base) = v.strip_suffix(postfix) {
            let w_re = format!("{base}/W_re");
            let w = format!("{base}/W");
            if obsolete.contains(w_re.as_str()) && obsolete.contains(w.as_str()) {
                map.insert(
                    v.to_string(),
                    converted(vec![w, w_re], Transform::NativeToBasicKernel),
                );
                break;
            }
        }
    }
    for postfix in [
        "/rnn/lstm_cell/bias",
        "/lstm_cell/bias",
        "/rnn/basic_lstm_cell/bias",
        "/basic_lstm_cell/bias",
    ] {
        if let Some(base) = v.strip_suffix(postfix) {
            let b = format!("{base}/b");
            if obsolete.contains(b.as_str()) {
                map.insert(
                    v.to_string(),
                    converted(vec![b], Transform::NativeToBasicBias),
                );
            }
        }
    }
}

/// docs/returnn-mapping.md §6.3 Basic/Standard LSTM -> NativeLSTM: `W_re`, `W` and `b` of a
/// NativeLSTM all from one LSTMCell kernel/bias pair.
fn map_basic_to_native(
    v: &str,
    missing_set: &BTreeSet<&str>,
    obsolete: &BTreeSet<&str>,
    map: &mut BTreeMap<String, Producer>,
) {
    let Some(p) = v.strip_suffix("/rec/W_re") else {
        return;
    };
    let cur_w = format!("{p}/rec/W");
    let cur_b = format!("{p}/rec/b");
    if !(missing_set.contains(cur_w.as_str()) && missing_set.contains(cur_b.as_str())) {
        return;
    }
    let source = ["rnn/lstm_cell", "lstm_cell"].iter().find_map(|scope| {
        let k = format!("{p}/rec/{scope}/kernel");
        let b = format!("{p}/rec/{scope}/bias");
        (obsolete.contains(k.as_str()) && obsolete.contains(b.as_str())).then_some((k, b))
    });
    if let Some((k, b)) = source {
        let pair = Some((k.clone(), b.clone()));
        let mk = |key: &String, part| Producer {
            basic_pair: pair.clone(),
            ..converted(vec![key.clone()], Transform::BasicToNative(part))
        };
        map.insert(v.to_string(), mk(&k, NativePart::WRe));
        map.insert(cur_w, mk(&k, NativePart::W));
        map.insert(cur_b, mk(&b, NativePart::B));
    }
}

/// docs/returnn-mapping.md §6.4 batch norm -> v1 (rename) and -> v2 (rename + flatten).
fn map_batch_norm(v: &str, obsolete: &BTreeSet<&str>, map: &mut BTreeMap<String, Producer>) {
    if let Some((prefix, param)) = bn_match(v, false) {
        let pat = format!(
            "^{}/batch_norm/.*_{}$",
            regex::escape(&prefix),
            regex::escape(&param)
        );
        if let Some(one) = unique_match(&pat, obsolete) {
            map.insert(
                v.to_string(),
                renamed(one.to_string(), Rule::Rename("batch_norm_to_v1".into())),
            );
        }
    }
    if let Some((prefix, param)) = bn_match(v, true) {
        let pat = format!(
            "^{p}/batch_norm/.*_{q}$|^{p}/batch_norm/{q}$",
            p = regex::escape(&prefix),
            q = regex::escape(&param)
        );
        if let Some(one) = unique_match(&pat, obsolete) {
            map.insert(
                v.to_string(),
                converted(vec![one.to_string()], Transform::Flatten),
            );
        }
    }
}

/// docs/returnn-mapping.md §6.5 rename table: the first row whose candidate is missing, no
/// chaining.
fn map_rename_table(k: &str, missing_set: &BTreeSet<&str>, map: &mut BTreeMap<String, Producer>) {
    for (old, new) in RENAME_TABLE {
        if k.len() > old.len() && k.ends_with(old) && k[..k.len() - old.len()].ends_with('/') {
            let cand = format!("{}{new}", &k[..k.len() - old.len()]);
            if missing_set.contains(cand.as_str()) {
                map.insert(
                    cand,
                    renamed(k.to_string(), Rule::Rename(format!("{old}->{new}"))),
                );
                break;
            }
        }
    }
}

/// docs/returnn-mapping.md §6.6 CuDNN canonical params -> LSTM block, unconditionally.
fn map_cudnn(k: &str, map: &mut BTreeMap<String, Producer>) {
    if let Some(stem) = k.strip_suffix(CUDNN_POSTFIX) {
        let prefix = format!("{stem}/");
        let keys: Vec<String> = (0..16)
            .map(|t| format!("{prefix}cudnn/CudnnRNNParamsToCanonical:{t}"))
            .collect();
        map.insert(
            format!("{prefix}lstm_block_wrapper/kernel"),
            converted(keys.clone(), Transform::CudnnToBlock(BlockPart::Kernel)),
        );
        map.insert(
            format!("{prefix}lstm_block_wrapper/bias"),
            converted(keys, Transform::CudnnToBlock(BlockPart::Bias)),
        );
    }
}

/// `^(.*)/batch_norm/(v2_)?(beta|gamma|mean|variance)$` with a greedy prefix group.
/// The one key of `keys` that matches the regex `pat`; `None` if none or several do.
fn unique_match<'a>(pat: &str, keys: &BTreeSet<&'a str>) -> Option<&'a str> {
    let re = Regex::new(pat).ok()?;
    let mut it = keys.iter().copied().filter(|k| re.is_match(k));
    match (it.next(), it.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

fn bn_match(v: &str, v2: bool) -> Option<(String, String)> {
    const PARAMS: [&str; 4] = ["beta", "gamma", "mean", "variance"];
    for param in PARAMS {
        let tail = if v2 {
            format!("/batch_norm/v2_{param}")
        } else {
            format!("/batch_norm/{param}")
        };
        if let Some(prefix) = v.strip_suffix(tail.as_str()) {
            return Some((prefix.to_string(), param.to_string()));
        }
    }
    None
}
