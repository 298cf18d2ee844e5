//! [`plan_torch`]: the PyTorch engine's `_load_model` (engine.py 1335-1585) step by step, with
//! torch's `Module.load_state_dict(strict=False)` inside it.

use std::collections::{BTreeMap, BTreeSet};

use super::fnmatch::{prefix_fullmatch, Pattern};
use super::pyrepr::{py_str, py_str_set, torch_size};
use super::{
    EntryReport, InitForTrain, InitReason, StoredDict, StoredValue, TorchAssignment, TorchError,
    TorchErrorKind, TorchFile, TorchLoadConfig, TorchParam, TorchPlan, TorchPreloadEntry,
    TorchStatus, TorchVarPlan,
};

/// One key of a state dict handed to `load_state_dict`: where its value lives in the file.
#[derive(Clone, Debug)]
struct Item<'a> {
    /// The key in the file's state dict (before prefix / mapping).
    origin: String,
    value: &'a StoredValue,
}

/// A state dict as `load_state_dict` receives it.
struct State<'a> {
    items: BTreeMap<String, Item<'a>>,
    metadata: Option<&'a BTreeMap<String, Option<i64>>>,
    /// Where the state dict is in the file (`["model"]`, `[]`).
    path: Vec<String>,
    file: &'a str,
    entry: &'a str,
}

/// What one `load_state_dict` call did.
struct Loaded {
    copies: Vec<(usize, TorchAssignment)>,
    missing: Vec<String>,
    unexpected: Vec<String>,
    /// Params whose `num_batches_tracked` torch filled with the module's own value (T-BN-1).
    counter_filled: Vec<usize>,
}

fn py_class(v: &StoredValue) -> String {
    match v {
        StoredValue::Dict(d) if d.ordered => "<class 'collections.OrderedDict'>".into(),
        StoredValue::Tensor { .. } => "<class 'torch.Tensor'>".into(),
        other => format!("<class '{}'>", other.py_type()),
    }
}

/// The module prefix of a BatchNorm `num_batches_tracked` key (`bn` for `bn.num_batches_tracked`).
fn batch_norm_counter_module(p: &TorchParam) -> Option<&str> {
    if p.dtype != tf_bundle::DType::Int64 || !p.shape.is_empty() {
        return None;
    }
    let m = p.name.strip_suffix("num_batches_tracked")?;
    if m.is_empty() {
        Some("")
    } else {
        m.strip_suffix('.')
    }
}

/// torch's `load_state_dict(state, strict=False)` on a module with `params` (state-dict
/// order): T-SHAPE-1/2, T-BN-1, T-DTYPE-1; unexpected keys as torch computes them.
fn load_state_dict(
    params: &[TorchParam],
    names: &BTreeSet<&str>,
    state: &State<'_>,
    module_class: &str,
) -> Result<Loaded, TorchError> {
    let mut out = Loaded {
        copies: Vec::new(),
        missing: Vec::new(),
        unexpected: Vec::new(),
        counter_filled: Vec::new(),
    };
    let mut errors = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let Some(item) = state.items.get(&p.name) else {
            if let Some(module) = batch_norm_counter_module(p) {
                let version = state
                    .metadata
                    .and_then(|m| m.get(module).copied().flatten());
                if version.is_none_or(|v| v < 2) {
                    out.counter_filled.push(i);
                    continue;
                }
            }
            out.missing.push(p.name.clone());
            continue;
        };
        let StoredValue::Tensor { dtype, shape } = item.value else {
            errors.push(format!(
                "While copying the parameter named \"{}\", expected torch.Tensor or Tensor-like object from checkpoint but received {}",
                p.name,
                py_class(item.value)
            ));
            continue;
        };
        // Backward compatibility in torch: a [1] tensor loads into a scalar (T-SHAPE-2).
        let squeezed = p.shape.is_empty() && shape.as_slice() == [1];
        if !squeezed && *shape != p.shape {
            errors.push(format!(
                "size mismatch for {}: copying a param with shape {} from checkpoint, the shape in current model is {}.",
                p.name,
                torch_size(shape),
                torch_size(&p.shape)
            ));
            continue;
        }
        let mut path = state.path.clone();
        path.push(item.origin.clone());
        out.copies.push((
            i,
            TorchAssignment {
                param: p.name.clone(),
                entry: state.entry.to_string(),
                file: state.file.to_string(),
                path,
                key: item.origin.clone(),
                source_dtype: *dtype,
                source_shape: shape.clone(),
                dtype: p.dtype,
                shape: p.shape.clone(),
                cast: super::CastMode::TorchCopy,
            },
        ));
    }
    for k in state.items.keys() {
        if !names.contains(k.as_str()) {
            out.unexpected.push(k.clone());
        }
    }
    if !errors.is_empty() {
        return Err(TorchError::python(
            TorchErrorKind::SizeMismatch,
            format!(
                "Error(s) in loading state_dict for {module_class}:\n\t{}",
                errors.join("\n\t")
            ),
        )
        .with_file(state.file)
        .with_entry(state.entry));
    }
    Ok(out)
}

/// `'<type>' object has no attribute '<attr>'`.
fn no_attribute(v: &StoredValue, attr: &str, file: &str, entry: &str) -> TorchError {
    TorchError::python(
        TorchErrorKind::NotADict,
        format!("'{}' object has no attribute '{attr}'", v.py_type()),
    )
    .with_file(file)
    .with_entry(entry)
}

fn repr_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    items
        .into_iter()
        .map(|s| py_str(s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per-parameter bookkeeping.
struct Book<'p> {
    params: &'p [TorchParam],
    /// Tie group root per param.
    group: Vec<usize>,
    /// Members per group root.
    members: BTreeMap<usize, Vec<usize>>,
    values: Vec<Option<TorchAssignment>>,
    reasons: Vec<Option<InitReason>>,
}

impl Book<'_> {
    fn copy(&mut self, i: usize, a: &TorchAssignment) {
        let g = self.group[i];
        for &j in self.members.get(&g).map(Vec::as_slice).unwrap_or(&[]) {
            let mut a = a.clone();
            a.param = self.params[j].name.clone();
            self.values[j] = Some(a);
        }
    }
}

/// The PyTorch engine's `_load_model` for a module with `params` (in `state_dict()` order),
/// opening files with `open` (called only for files the engine opens, in its order).
pub fn plan_torch(
    params: &[TorchParam],
    cfg: &TorchLoadConfig,
    open: &mut dyn FnMut(&str) -> Result<TorchFile, TorchError>,
) -> Result<TorchPlan, TorchError> {
    let names: BTreeSet<&str> = params.iter().map(|p| p.name.as_str()).collect();
    let index: BTreeMap<&str, usize> = params
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut group: Vec<usize> = (0..params.len()).collect();
    for (i, slot) in group.iter_mut().enumerate() {
        // T-TIED-1: follow tied_to to the first name of the group (bounded: no cycles).
        let mut g = i;
        let mut steps = 0;
        while let Some(t) = params[g].tied_to.as_deref().and_then(|t| index.get(t)) {
            if *t == g || steps > params.len() {
                break;
            }
            g = *t;
            steps += 1;
        }
        *slot = g;
    }
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &g) in group.iter().enumerate() {
        members.entry(g).or_default().push(i);
    }
    let mut book = Book {
        params,
        group,
        members,
        values: vec![None; params.len()],
        reasons: vec![None; params.len()],
    };
    let mut notes = Vec::new();
    let mut missing: BTreeSet<String> = BTreeSet::new();
    let mut unexpected: BTreeSet<String> = BTreeSet::new();
    let mut loaded_state_keys: BTreeSet<String> = BTreeSet::new();

    // T-MAIN-1..3: the main checkpoint.
    let mut epoch: Option<i64> = cfg.epoch.map(|e| e as i64);
    let main_file;
    let mut main_opened = None;
    if let Some(f) = &cfg.main_file {
        let tf = open(f).map_err(|e| e.with_entry("load"))?;
        if epoch.is_none() {
            // T-EPOCH-1: the file's stored epoch, else the start epoch, else 1.
            epoch = Some(match tf.root.get("epoch") {
                None => cfg.start_epoch.unwrap_or(1) as i64,
                Some(StoredValue::Int(e)) => *e,
                Some(other) => {
                    return Err(TorchError::python(
                        TorchErrorKind::Unsupported,
                        format!(
                            "the checkpoint's \"epoch\" is a {}, not an int",
                            other.py_type()
                        ),
                    )
                    .with_file(f.clone()))
                }
            });
        }
        main_file = f.clone();
        main_opened = Some(tf);
    } else {
        main_file = "None".to_string();
    }
    let is_training = cfg.task == "train";
    let first_train_epoch =
        matches!(epoch, None | Some(0)) && (is_training || cfg.task == "initialize_model");
    let final_epoch = match (&cfg.main_file, epoch) {
        (Some(_), Some(e)) => e,
        _ => cfg.start_epoch.unwrap_or(1) as i64,
    };
    if let Some(tf) = &main_opened {
        // T-MAIN-1: `ckpt.get("model", ckpt)`.
        let (dict, path): (&StoredDict, Vec<String>) = match tf.root.get("model") {
            None => (&tf.root, Vec::new()),
            Some(StoredValue::Dict(d)) => (d, vec!["model".to_string()]),
            Some(other) => return Err(no_attribute(other, "keys", &tf.file, "load")),
        };
        let state = State {
            items: dict
                .entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Item {
                            origin: k.clone(),
                            value: v,
                        },
                    )
                })
                .collect(),
            metadata: dict.metadata.as_ref(),
            path,
            file: &tf.file,
            entry: "load",
        };
        loaded_state_keys.extend(state.items.keys().cloned());
        let res = load_state_dict(params, &names, &state, &cfg.module_class)?;
        for (i, a) in &res.copies {
            book.copy(*i, a);
        }
        for &i in &res.counter_filled {
            book.reasons[i] = Some(InitReason::BatchNormCounter {
                entry: "load".into(),
            });
        }
        missing.extend(res.missing.iter().cloned());
        if !res.unexpected.is_empty() {
            notes.push(format!(
                "Note: While loading {}, unexpected key(s) in state_dict: {}",
                tf.file,
                repr_list(&res.unexpected)
            ));
        }
        unexpected.extend(res.unexpected);
    }

    // T-ORDER-1: preload entries in reversed sorted key order, each overwriting.
    let mut entries: Vec<&(String, TorchPreloadEntry)> = cfg.preload.iter().collect();
    entries.sort_by(|a, b| b.0.cmp(&a.0));
    let mut reports = Vec::new();
    let mut ignore_set: BTreeSet<String> = BTreeSet::new();
    for (key, entry) in entries {
        let TorchPreloadEntry::Opts(o) = entry else {
            // T-ENTRY-1
            return Err(
                TorchError::python(TorchErrorKind::PreloadEntryInvalid, "").with_entry(key.clone())
            );
        };
        // T-IFT-1..4
        let (applies, why) = match &o.init_for_train {
            InitForTrain::Always => (true, "init_for_train='always'".to_string()),
            InitForTrain::FirstEpoch => (
                first_train_epoch,
                format!("init_for_train=True, first train epoch: {first_train_epoch}"),
            ),
            InitForTrain::Recog => (
                !is_training,
                format!("init_for_train=False, task '{}'", cfg.task),
            ),
            InitForTrain::Invalid { repr, type_name } => {
                return Err(TorchError::python(
                    TorchErrorKind::InvalidInitForTrain,
                    format!(
                        "preload key {key}: invalid init_for_train value {repr} (type {type_name})"
                    ),
                )
                .with_entry(key.clone()))
            }
        };
        reports.push(EntryReport {
            key: key.clone(),
            applied: applies,
            reason: why,
        });
        if !applies {
            continue;
        }
        let Some(filename) = &o.filename else {
            // T-NONE-1..3: declare still-missing matching params as randomly initialised.
            let matcher: Box<dyn Fn(&str) -> bool> = if let Some(p) = &o.pattern {
                let pat = Pattern::new(p);
                Box::new(move |n| pat.matches(n))
            } else if let super::PrefixOpt::Str(pre) = &o.prefix {
                let pre = pre.clone();
                Box::new(move |n| prefix_fullmatch(&pre, n))
            } else {
                return Err(TorchError::python(
                    TorchErrorKind::NoPatternOrPrefix,
                    format!(
                        "preload key {key} without file {}: no pattern or prefix given",
                        o.opts_repr
                    ),
                )
                .with_entry(key.clone()));
            };
            let mut remove = Vec::new();
            for (i, p) in params.iter().enumerate() {
                if matcher(&p.name) && missing.contains(&p.name) {
                    remove.push(i);
                }
            }
            for &i in &remove {
                missing.remove(&params[i].name);
                book.reasons[i] = Some(InitReason::Declared { entry: key.clone() });
            }
            notes.push(format!(
                "[{key}] Randomly initialize params: [{}]",
                repr_list(remove.iter().map(|&i| params[i].name.as_str()))
            ));
            continue;
        };
        let tf = open(filename).map_err(|e| e.with_entry(key.clone()))?;
        // T-CKEY-1..4
        let (dict, path): (&StoredDict, Vec<String>) = match &o.checkpoint_key {
            None => (&tf.root, Vec::new()),
            Some(ck) => match tf.root.get(ck) {
                None => {
                    return Err(TorchError::python(
                        TorchErrorKind::CheckpointKeyMissing,
                        py_str(ck),
                    )
                    .with_file(tf.file.clone())
                    .with_entry(key.clone()))
                }
                Some(StoredValue::Dict(d)) => (d, vec![ck.clone()]),
                Some(other) => {
                    let attr = if o.prefix.truthy().is_some() {
                        "items"
                    } else {
                        "keys"
                    };
                    return Err(no_attribute(other, attr, &tf.file, key));
                }
            },
        };
        // T-PREFIX-1: the prefix is prepended to every checkpoint key (a new plain dict).
        let (mut items, metadata): (BTreeMap<String, Item<'_>>, _) = match o.prefix.truthy() {
            Some(pre) => (
                dict.entries
                    .iter()
                    .map(|(k, v)| {
                        (
                            format!("{pre}{k}"),
                            Item {
                                origin: k.clone(),
                                value: v,
                            },
                        )
                    })
                    .collect(),
                None,
            ),
            None => (
                dict.entries
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            Item {
                                origin: k.clone(),
                                value: v,
                            },
                        )
                    })
                    .collect(),
                dict.metadata.as_ref(),
            ),
        };
        // T-IGN-1: ignore lists on the prefixed names.
        items.retain(|k, _| {
            let drop = o.ignore_params.contains(k)
                || o.ignore_params_prefixes
                    .iter()
                    .any(|p| k.starts_with(p.as_str()));
            if drop {
                notes.push(format!("[{key}] Ignoring variable {k}"));
            }
            !drop
        });
        // T-VNM-1/2: pop / insert, in dict order.
        for (new, old) in &o.var_name_mapping {
            let Some(item) = items.remove(old) else {
                return Err(
                    TorchError::python(TorchErrorKind::VarNameMappingMissing, py_str(old))
                        .with_file(tf.file.clone())
                        .with_entry(key.clone()),
                );
            };
            items.insert(new.clone(), item);
        }
        if o.init_for_train == InitForTrain::Always {
            // T-ALWAYS-1
            ignore_set.extend(items.keys().filter(|k| names.contains(k.as_str())).cloned());
        }
        let state_keys: BTreeSet<String> = items.keys().cloned().collect();
        let state = State {
            items,
            metadata,
            path,
            file: &tf.file,
            entry: key,
        };
        let res = load_state_dict(params, &names, &state, &cfg.module_class)?;
        for (i, a) in &res.copies {
            book.copy(*i, a);
        }
        for &i in &res.counter_filled {
            book.reasons[i] = Some(InitReason::BatchNormCounter { entry: key.clone() });
        }
        loaded_state_keys.extend(state_keys.iter().cloned());
        for k in &state_keys {
            missing.remove(k);
        }
        if o.custom_missing_load_func && !res.missing.is_empty() {
            return Err(TorchError::python(
                TorchErrorKind::Unsupported,
                format!(
                    "preload_from_files[{}]: custom_missing_load_func is a Python callable (it would be called for {}); returnn-ckpt cannot run it",
                    py_str(key),
                    repr_list(&res.missing)
                ),
            )
            .with_entry(key.clone()));
        }
        // T-PREFIX-2/3
        let prefix_keys: Vec<&str> = match o.prefix.truthy() {
            Some(pre) => {
                let pk: Vec<&str> = params
                    .iter()
                    .map(|p| p.name.as_str())
                    .filter(|n| n.starts_with(pre))
                    .collect();
                if pk.is_empty() {
                    return Err(TorchError::python(
                        TorchErrorKind::NoPrefixKeysInModel,
                        format!(
                            "No keys with prefix {} found in model.\nModel params:\n{}",
                            py_str(pre),
                            named_parameters(params).join(", ")
                        ),
                    )
                    .with_entry(key.clone()));
                }
                pk
            }
            None => params.iter().map(|p| p.name.as_str()).collect(),
        };
        let prefix_set: BTreeSet<&str> = prefix_keys.iter().copied().collect();
        let missing_pre: Vec<String> = res
            .missing
            .iter()
            .filter(|m| prefix_set.contains(m.as_str()) && !loaded_state_keys.contains(*m))
            .cloned()
            .collect();
        // T-PREFIX-4
        if !state_keys.iter().any(|k| prefix_set.contains(k.as_str())) {
            let state_list: Vec<&str> = state_keys.iter().map(String::as_str).collect();
            let model_list: Vec<&str> = names.iter().copied().collect();
            return Err(TorchError::python(
                TorchErrorKind::NoPrefixKeysInState,
                format!(
                    "No keys with prefix {} found in preload model state.\nPreload model state keys: {}\nModel state keys: {}",
                    o.prefix.repr(),
                    py_str_set(&state_list),
                    py_str_set(&model_list)
                ),
            )
            .with_file(tf.file.clone())
            .with_entry(key.clone()));
        }
        // T-MISS-2/3
        if !missing_pre.is_empty() {
            if o.ignore_missing {
                for m in &missing_pre {
                    if let Some(&i) = index.get(m.as_str()) {
                        book.reasons[i] = Some(InitReason::IgnoreMissing { entry: key.clone() });
                    }
                }
            } else {
                missing.extend(missing_pre.iter().cloned());
            }
            notes.push(format!(
                "[{key}] Missing keys: {}",
                py_str_set(&missing_pre)
            ));
        }
    }

    // T-ALWAYS-2/3: the frozen params become non-persistent buffers.
    for p in params.iter().filter(|p| ignore_set.contains(&p.name)) {
        if p.buffer {
            let attr = p.name.rsplit('.').next().unwrap_or(&p.name);
            return Err(TorchError::python(
                TorchErrorKind::NotAParameter,
                format!("{attr} is not a torch.nn.Parameter, got type Tensor"),
            )
            .with_key(p.name.clone()));
        }
    }
    // T-NC-1
    for (i, p) in params.iter().enumerate() {
        if p.non_critical && missing.remove(&p.name) {
            book.reasons[i] = Some(InitReason::NonCritical);
            notes.push(format!(
                "Ignoring missing key which is non-critical for restore: {}",
                p.name
            ));
        }
    }
    // T-MISS-1
    if !missing.is_empty() {
        return Err(TorchError::python(
            TorchErrorKind::MissingKeys,
            format!(
                "While loading model {main_file}, preload_from_files {}:\nUnexpected key(s) in state_dict: {}\nMissing key(s) in state_dict: {}\nAny missing key is an error.",
                if cfg.preload.is_empty() { "False" } else { "True" },
                repr_list(&unexpected),
                repr_list(&missing)
            ),
        ));
    }
    let Book {
        values, reasons, ..
    } = book;
    let out_params = params
        .iter()
        .zip(values)
        .zip(reasons)
        .map(|((p, v), r)| match v {
            Some(a) => TorchVarPlan {
                param: p.clone(),
                status: if ignore_set.contains(&p.name) {
                    TorchStatus::Frozen
                } else {
                    TorchStatus::Loaded
                },
                source: Some(a),
                reason: None,
            },
            None => {
                let r = r.unwrap_or(InitReason::NotRequested);
                TorchVarPlan {
                    param: p.clone(),
                    status: match r {
                        InitReason::IgnoreMissing { .. } | InitReason::NonCritical => {
                            TorchStatus::MissingIgnored
                        }
                        _ => TorchStatus::RandomInit,
                    },
                    source: None,
                    reason: Some(r),
                }
            }
        })
        .collect();
    Ok(TorchPlan {
        params: out_params,
        entries: reports,
        epoch: final_epoch.max(0) as u64,
        first_train_epoch,
        unexpected: unexpected.into_iter().collect(),
        notes,
    })
}

/// `named_parameters()`: Parameters only (no buffers, no RF aux params), tied ones once.
fn named_parameters(params: &[TorchParam]) -> Vec<&str> {
    params
        .iter()
        .filter(|p| !p.buffer && !p.aux && p.tied_to.is_none())
        .map(|p| p.name.as_str())
        .collect()
}
