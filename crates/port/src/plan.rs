//! The port plan: every TF variable -> target parameter with its transform chain, unmapped
//! variables, unfilled targets, explicit ignores and the shape/dtype checks, computed from
//! names, dtypes and shapes only (no value is read). The JSON form is a stable contract
//! (`docs/port-rules.md`, "The plan document").

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::array::{py_shape, Array, Meta};
use crate::error::{err, PortError, PortErrorKind};
use crate::kinds::{LayerOpts, ModuleKind, Origin, SourceKind, Style, TfLayer, VarIndex};
use crate::net::{infer_layers, is_bookkeeping, NetworkDict};
use crate::preset::derive;
use crate::rules::{full_regex, substitute, LayerRule, Rules};
use crate::transform::{chain_apply, chain_meta, Op};

/// The `format` field of every plan document.
pub const PLAN_FORMAT: &str = "returnn-ckpt-port-plan";
/// The plan document version.
pub const PLAN_VERSION: u32 = 1;

/// A named tensor description (a source variable or a target parameter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    #[serde(with = "crate::array::dtype_name")]
    pub dtype: tf_bundle::DType,
    pub shape: Vec<u64>,
}

impl TensorSpec {
    pub fn new(name: impl Into<String>, dtype: tf_bundle::DType, shape: Vec<u64>) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype,
            shape,
        }
    }
    pub fn meta(&self) -> Meta {
        Meta {
            dtype: self.dtype,
            shape: self.shape.clone(),
        }
    }
}

/// One target parameter of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedParam {
    /// The target parameter name (state-dict key).
    pub target: String,
    #[serde(with = "crate::array::dtype_name")]
    pub dtype: tf_bundle::DType,
    pub shape: Vec<u64>,
    /// The TF variables read, in order, with the dtype and shape the plan was made for.
    pub inputs: Vec<TensorSpec>,
    /// Applied in order to the list of inputs.
    pub transforms: Vec<Op>,
    /// The TF layer whose preset produced it (absent for `[[var]]` rules).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub layer: Option<String>,
    /// Which rule produced it: `layer rule N`, `var rule N` or `auto`.
    pub rule: String,
}

/// One TF layer of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedLayer {
    pub layer: String,
    pub scope: String,
    pub origin: Origin,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<SourceKind>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub module: Option<ModuleKind>,
    /// The target module path (`""` is the root module).
    pub target: String,
    /// `layer rule N`, `auto`, or `ignored by layer rule N`.
    pub rule: String,
    /// The TF layer options that decided the port.
    pub options: LayerOpts,
    /// What the target module must be built with to compute the same function.
    pub module_options: BTreeMap<String, Json>,
    /// The target parameters it fills.
    pub params: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
}

/// A TF variable deliberately left out, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    pub name: String,
    /// `ignore.tf`, `ignore.tf_match <regex>`, `bookkeeping`, `layer rule N`.
    pub reason: String,
}

/// One problem found while planning. A plan with issues is not `ok`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanIssue {
    pub kind: PortErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tf: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub layer: Option<String>,
}

impl PlanIssue {
    fn from_error(e: &PortError, layer: Option<&str>) -> PlanIssue {
        PlanIssue {
            kind: e.kind(),
            message: e.message().to_string(),
            tf: e.tf().map(str::to_string),
            target: e.target().map(str::to_string),
            layer: layer.map(str::to_string),
        }
    }

    /// As a [`PortError`].
    pub fn to_error(&self) -> PortError {
        let mut e = PortError::new(self.kind, self.message.clone());
        if let Some(t) = &self.tf {
            e = e.with_tf(t.clone());
        }
        if let Some(t) = &self.target {
            e = e.with_target(t.clone());
        }
        e
    }
}

/// The plan document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortPlan {
    /// Always [`PLAN_FORMAT`].
    pub format: String,
    /// Always [`PLAN_VERSION`].
    pub version: u32,
    /// No issues: the plan can be carried out.
    pub ok: bool,
    /// Whether the plan was checked against a target list.
    pub checked_against_target: bool,
    pub layers: Vec<PlannedLayer>,
    /// The target parameters, sorted by name.
    pub params: Vec<PlannedParam>,
    pub ignored: Vec<Ignored>,
    /// TF variables nothing reads and nothing ignores.
    pub unmapped: Vec<TensorSpec>,
    /// Target parameters nothing fills and nothing ignores.
    pub unfilled: Vec<TensorSpec>,
    /// Target parameters the rules ignore.
    pub ignored_targets: Vec<String>,
    pub issues: Vec<PlanIssue>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
}

/// Where the values come from: a TF bundle, a `.pt`, a safetensors file, memory. Each call
/// returns one tensor (dtype, shape, little-endian bytes).
pub trait TensorSource {
    fn read(&self, name: &str) -> Result<Array, Box<dyn std::error::Error + Send + Sync>>;
}

impl TensorSource for BTreeMap<String, Array> {
    fn read(&self, name: &str) -> Result<Array, Box<dyn std::error::Error + Send + Sync>> {
        self.get(name)
            .cloned()
            .ok_or_else(|| format!("no tensor '{name}'").into())
    }
}

impl PlannedParam {
    /// Computes this parameter's value: reads its inputs from `src`, checks that each has the
    /// dtype and shape the plan was made for, applies the transforms and checks the result.
    pub fn compute(&self, src: &dyn TensorSource) -> Result<Array, PortError> {
        let mut inputs = Vec::with_capacity(self.inputs.len());
        for spec in &self.inputs {
            let a = src.read(&spec.name).map_err(|e| {
                err(PortErrorKind::Read, e.to_string())
                    .with_tf(spec.name.clone())
                    .with_target(self.target.clone())
            })?;
            if a.dtype != spec.dtype || a.shape != spec.shape {
                return Err(err(
                    PortErrorKind::Read,
                    format!(
                        "the plan expects {} {}, the source has {} {}",
                        spec.dtype,
                        py_shape(&spec.shape),
                        a.dtype,
                        py_shape(&a.shape)
                    ),
                )
                .with_tf(spec.name.clone())
                .with_target(self.target.clone()));
            }
            inputs.push(a);
        }
        let out = chain_apply(inputs, &self.transforms)
            .map_err(|e| e.with_target(self.target.clone()))?;
        if out.dtype != self.dtype || out.shape != self.shape {
            return Err(err(
                PortErrorKind::TransformFailed,
                format!(
                    "the transforms produced {} {}, the plan says {} {}",
                    out.dtype,
                    py_shape(&out.shape),
                    self.dtype,
                    py_shape(&self.shape)
                ),
            )
            .with_target(self.target.clone()));
        }
        Ok(out)
    }

    pub fn meta(&self) -> Meta {
        Meta {
            dtype: self.dtype,
            shape: self.shape.clone(),
        }
    }
}

impl PortPlan {
    /// The planned parameter for `target`.
    pub fn param(&self, target: &str) -> Option<&PlannedParam> {
        self.params.iter().find(|p| p.target == target)
    }

    /// `Ok` when the plan has no issues, else the first issue as an error.
    pub fn check(&self) -> Result<(), PortError> {
        match self.issues.first() {
            None => Ok(()),
            Some(i) => Err(i.to_error()),
        }
    }

    /// The output tensors (name, dtype, shape) in target-name order.
    pub fn outputs(&self) -> Vec<TensorSpec> {
        self.params
            .iter()
            .map(|p| TensorSpec::new(p.target.clone(), p.dtype, p.shape.clone()))
            .collect()
    }
}

/// Builds the source variable index, refusing duplicate names.
pub fn var_index(sources: &[TensorSpec]) -> Result<VarIndex, PortError> {
    let mut vars = VarIndex::new();
    for s in sources {
        if vars.insert(s.name.clone(), s.meta()).is_some() {
            return Err(err(
                PortErrorKind::RulesInvalid,
                format!("the source list names '{}' twice", s.name),
            )
            .with_tf(s.name.clone()));
        }
    }
    Ok(vars)
}

/// Where a layer's variables live: `<scope>/batch_norm/` for a batch-norm layer, else
/// `<scope>/`.
pub(crate) fn owned_prefix(l: &TfLayer) -> String {
    let base = if l.scope.is_empty() {
        String::new()
    } else {
        format!("{}/", l.scope)
    };
    if l.source == Some(SourceKind::BatchNorm) {
        format!("{base}batch_norm/")
    } else {
        base
    }
}

/// The TF layers: the network dict's (with LSTM layouts decided by the variable names), then
/// those inferred from variables no network layer covers.
pub fn discover_layers(
    network: Option<&NetworkDict>,
    vars: &VarIndex,
) -> Result<Vec<TfLayer>, PortError> {
    let mut layers = match network {
        Some(n) => n.layers()?,
        None => vec![],
    };
    for l in &mut layers {
        if l.source.is_some_and(SourceKind::is_lstm) {
            if let Some(k) = lstm_layout(&l.scope, vars) {
                l.source = Some(k);
            }
        }
    }
    let scopes: Vec<String> = layers
        .iter()
        .filter(|l| !l.scope.is_empty())
        .map(|l| format!("{}/", l.scope))
        .collect();
    let covered = |name: &str| scopes.iter().any(|s| name.starts_with(s.as_str()));
    layers.extend(infer_layers(vars, &covered));
    Ok(layers)
}

/// Which LSTM layout the variables under `scope` have.
fn lstm_layout(scope: &str, vars: &VarIndex) -> Option<SourceKind> {
    let has = |rel: &str| vars.contains_key(&format!("{scope}/{rel}"));
    let any_prefix = |rel: &str| {
        let p = format!("{scope}/{rel}");
        vars.range(p.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&p))
    };
    if has("rec/W") || has("rec/W_re") {
        Some(SourceKind::NativeLstm)
    } else if any_prefix("rec/lstm_cell/")
        || any_prefix("rec/rnn/lstm_cell/")
        || any_prefix("rec/basic_lstm_cell/")
        || any_prefix("rec/rnn/basic_lstm_cell/")
    {
        Some(SourceKind::LstmCell)
    } else if any_prefix("rec/lstm_block_wrapper/") || any_prefix("rec/lstm_fused_cell/") {
        Some(SourceKind::LstmBlock)
    } else if any_prefix("rec/cudnn/") {
        Some(SourceKind::CudnnLstm)
    } else {
        None
    }
}

/// The module a layer gets when its rule names none.
pub fn default_module(
    source: SourceKind,
    style: Style,
    layer: &TfLayer,
    vars: &VarIndex,
) -> ModuleKind {
    let rf = style == Style::Rf;
    let pick = |a, b| if rf { a } else { b };
    match source {
        SourceKind::Linear if layer.opts.sparse_input => {
            pick(ModuleKind::RfEmbedding, ModuleKind::NnEmbedding)
        }
        SourceKind::Linear => pick(ModuleKind::RfLinear, ModuleKind::NnLinear),
        SourceKind::Embedding => pick(ModuleKind::RfEmbedding, ModuleKind::NnEmbedding),
        SourceKind::Conv => {
            let rank = vars
                .get(&format!("{}/W", layer.scope))
                .map_or(3, |m| m.shape.len());
            match rank {
                4 => pick(ModuleKind::RfConv2d, ModuleKind::NnConv2d),
                5 => pick(ModuleKind::RfConv3d, ModuleKind::NnConv3d),
                _ => pick(ModuleKind::RfConv1d, ModuleKind::NnConv1d),
            }
        }
        SourceKind::LstmCell => {
            let proj = vars.keys().any(|k| {
                k.starts_with(&format!("{}/rec/", layer.scope)) && k.ends_with("/projection/kernel")
            });
            if proj {
                ModuleKind::NnLstm
            } else {
                pick(ModuleKind::RfLstm, ModuleKind::NnLstm)
            }
        }
        k if k.is_lstm() => pick(ModuleKind::RfLstm, ModuleKind::NnLstm),
        SourceKind::BatchNorm => pick(ModuleKind::RfBatchNorm, ModuleKind::NnBatchNorm1d),
        SourceKind::LayerNorm => pick(ModuleKind::RfLayerNorm, ModuleKind::NnLayerNorm),
        _ => pick(ModuleKind::RfSelfAttention, ModuleKind::NnLinear),
    }
}

/// Joins a module path and a parameter name.
pub fn join_target(path: &str, param: &str) -> String {
    if path.is_empty() {
        param.to_string()
    } else {
        format!("{path}.{param}")
    }
}

struct Matcher {
    exact: BTreeSet<String>,
    regexes: Vec<(String, regex::Regex)>,
}

impl Matcher {
    fn new(exact: &[String], patterns: &[String]) -> Result<Matcher, PortError> {
        Ok(Matcher {
            exact: exact.iter().cloned().collect(),
            regexes: patterns
                .iter()
                .map(|p| full_regex(p, "ignore").map(|r| (p.clone(), r)))
                .collect::<Result<_, _>>()?,
        })
    }
    /// Why `name` matches, if it does.
    fn reason(&self, name: &str, field: &str) -> Option<String> {
        if self.exact.contains(name) {
            return Some(format!("ignore.{field}"));
        }
        self.regexes
            .iter()
            .find(|(_, r)| r.is_match(name))
            .map(|(p, _)| format!("ignore.{field}_match {p}"))
    }
}

fn find_rule<'r>(
    rules: &'r [LayerRule],
    compiled: &[Option<regex::Regex>],
    layer: &str,
) -> Option<(usize, &'r LayerRule, Option<Vec<String>>)> {
    for (i, r) in rules.iter().enumerate() {
        if r.name.as_deref() == Some(layer) {
            return Some((i, r, None));
        }
        if let Some(Some(re)) = compiled.get(i) {
            if let Some(c) = re.captures(layer) {
                let groups = c
                    .iter()
                    .map(|m| m.map_or(String::new(), |m| m.as_str().to_string()))
                    .collect();
                return Some((i, r, Some(groups)));
            }
        }
    }
    None
}

fn subst_groups(template: &str, groups: &Option<Vec<String>>) -> String {
    let Some(g) = groups else {
        return template.to_string();
    };
    let mut out = template.to_string();
    for (i, v) in g.iter().enumerate().rev() {
        out = out.replace(&format!("{{{i}}}"), v);
    }
    out
}

/// Makes the plan: `rules`, the optional network dict, the source variables and the optional
/// target list (names, dtypes, shapes of the RF/torch model's state dict). Errors only for
/// invalid rules, network dict or source list; everything about the checkpoint and the target
/// is reported in [`PortPlan::issues`].
pub fn plan(
    rules: &Rules,
    network: Option<&NetworkDict>,
    sources: &[TensorSpec],
    targets: Option<&[TensorSpec]>,
) -> Result<PortPlan, PortError> {
    rules.validate()?;
    let vars = var_index(sources)?;
    let mut issues: Vec<PlanIssue> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut params: Vec<PlannedParam> = Vec::new();
    // TF variable -> "consumed" (read by some param)
    let mut consumed: BTreeSet<String> = BTreeSet::new();
    let mut ignored_by_layer: BTreeMap<String, String> = BTreeMap::new();
    let target_index: Option<BTreeMap<&str, &TensorSpec>> =
        targets.map(|t| t.iter().map(|s| (s.name.as_str(), s)).collect());
    let issue = |kind, msg: String| PlanIssue {
        kind,
        message: msg,
        tf: None,
        target: None,
        layer: None,
    };
    let input_specs = |names: &[String]| -> Result<Vec<TensorSpec>, String> {
        names
            .iter()
            .map(|n| {
                vars.get(n)
                    .map(|m| TensorSpec::new(n.clone(), m.dtype, m.shape.clone()))
                    .ok_or_else(|| n.clone())
            })
            .collect()
    };

    // 1. [[var]] rules
    let mut var_rule_inputs: BTreeSet<String> = BTreeSet::new();
    for (i, vr) in rules.vars.iter().enumerate() {
        let rule = format!("var rule {}", i + 1);
        let mut instances: Vec<(Option<String>, Option<regex::Captures>)> = Vec::new();
        let re;
        match (&vr.name, &vr.pattern) {
            (Some(n), _) => {
                if vars.contains_key(n) {
                    instances.push((Some(n.clone()), None));
                } else {
                    let mut is = issue(
                        PortErrorKind::MissingInput,
                        format!("{rule} names '{n}', which the checkpoint does not have"),
                    );
                    is.tf = Some(n.clone());
                    issues.push(is);
                }
            }
            (None, Some(p)) => {
                re = full_regex(p, &rule)?;
                for name in vars.keys() {
                    if let Some(c) = re.captures(name) {
                        instances.push((Some(name.clone()), Some(c)));
                    }
                }
                if instances.is_empty() {
                    notes.push(format!("{rule} (match {p:?}) matched no TF variable"));
                }
            }
            (None, None) => instances.push((None, None)),
        }
        for (name, caps) in instances {
            let inputs: Vec<String> = match (&vr.inputs, name) {
                (Some(list), _) => list.iter().map(|t| substitute(t, caps.as_ref())).collect(),
                (None, Some(n)) => vec![n],
                (None, None) => vec![],
            };
            let target = substitute(&vr.target, caps.as_ref());
            match input_specs(&inputs) {
                Ok(specs) => {
                    consumed.extend(inputs.iter().cloned());
                    var_rule_inputs.extend(inputs.iter().cloned());
                    params.push(PlannedParam {
                        target,
                        dtype: tf_bundle::DType::Float32,
                        shape: vec![],
                        inputs: specs,
                        transforms: vr.transforms.clone(),
                        layer: None,
                        rule: rule.clone(),
                    });
                }
                Err(missing) => {
                    let mut is = issue(
                        PortErrorKind::MissingInput,
                        format!("{rule}: input '{missing}' of '{target}' is not in the checkpoint"),
                    );
                    is.tf = Some(missing);
                    is.target = Some(target);
                    issues.push(is);
                }
            }
        }
    }

    // 2. layers
    let mut layers = discover_layers(network, &vars)?;
    let compiled: Vec<Option<regex::Regex>> = rules
        .layers
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.pattern
                .as_ref()
                .map(|p| full_regex(p, &format!("layer rule {}", i + 1)))
                .transpose()
        })
        .collect::<Result<_, _>>()?;
    for (i, r) in rules.layers.iter().enumerate() {
        let Some(name) = &r.name else { continue };
        if layers.iter().any(|l| &l.name == name) {
            continue;
        }
        match r.source {
            Some(source) => layers.push(TfLayer {
                name: name.clone(),
                scope: r.scope.clone().unwrap_or_else(|| name.clone()),
                source: Some(source),
                origin: Origin::Rules,
                opts: LayerOpts::default(),
            }),
            None => {
                let mut is = issue(
                    PortErrorKind::KindUnknown,
                    format!(
                        "layer rule {} names layer '{name}', which neither the network dict nor the variable names have; give `source` (one of {})",
                        i + 1,
                        SourceKind::ALL.map(|k| k.name()).join(", ")
                    ),
                );
                is.layer = Some(name.clone());
                issues.push(is);
            }
        }
    }
    let mut planned_layers = Vec::new();
    for mut layer in layers {
        let found = find_rule(&rules.layers, &compiled, &layer.name);
        if let Some((_, r, _)) = &found {
            if let Some(s) = &r.scope {
                layer.scope = s.clone();
            }
            if r.forget_bias.is_some() {
                layer.opts.forget_bias = r.forget_bias;
            }
            if r.use_transposed_weights.is_some() {
                layer.opts.use_transposed_weights = r.use_transposed_weights;
            }
            if r.groups.is_some() {
                layer.opts.groups = r.groups;
            }
        }
        let prefix = owned_prefix(&layer);
        let under: Vec<String> = vars
            .keys()
            .filter(|k| k.starts_with(&prefix) && !consumed.contains(*k))
            .filter(|k| !(rules.defaults.ignore_bookkeeping && is_bookkeeping(k)))
            .cloned()
            .collect();
        let rule_name = found.as_ref().map_or("auto".to_string(), |(i, _, _)| {
            format!("layer rule {}", i + 1)
        });
        if let Some((i, r, _)) = &found {
            if r.ignore {
                for v in &under {
                    ignored_by_layer.insert(v.clone(), format!("layer rule {} (ignore)", i + 1));
                }
                planned_layers.push(PlannedLayer {
                    layer: layer.name.clone(),
                    scope: layer.scope.clone(),
                    origin: layer.origin,
                    source: layer.source,
                    module: None,
                    target: String::new(),
                    rule: format!("ignored by layer rule {}", i + 1),
                    options: layer.opts.clone(),
                    module_options: BTreeMap::new(),
                    params: vec![],
                    notes: vec![],
                });
                continue;
            }
        }
        if found.is_none() && !rules.defaults.auto {
            continue;
        }
        let explicit_source = found.as_ref().and_then(|(_, r, _)| r.source);
        if under.is_empty() && found.is_none() {
            continue; // a network layer without variables (no parameters, reuse_params, ...)
        }
        let source = match explicit_source.or(layer.source) {
            Some(s) => s,
            None => {
                let mut is = issue(
                    PortErrorKind::KindUnknown,
                    format!(
                        "layer '{}'{}: the kind of its variables ({}) is unknown; add a [[layer]] rule with `source` (one of {}) or [[var]] rules",
                        layer.name,
                        layer.opts.class.as_ref().map(|c| format!(" (class {c:?})")).unwrap_or_default(),
                        under.join(", "),
                        SourceKind::ALL.map(|k| k.name()).join(", ")
                    ),
                );
                is.layer = Some(layer.name.clone());
                issues.push(is);
                continue;
            }
        };
        layer.source = Some(source);
        let (module, target_path, renames) = match &found {
            Some((_, r, groups)) => (
                r.module
                    .unwrap_or_else(|| default_module(source, rules.defaults.style, &layer, &vars)),
                r.target
                    .as_ref()
                    .map(|t| subst_groups(t, groups))
                    .unwrap_or_else(|| layer.default_target()),
                r.params.clone(),
            ),
            None => (
                default_module(source, rules.defaults.style, &layer, &vars),
                layer.default_target(),
                BTreeMap::new(),
            ),
        };
        let d = match derive(&layer, source, module, &vars) {
            Ok(d) => d,
            Err(e) => {
                issues.push(PlanIssue::from_error(&e, Some(&layer.name)));
                continue;
            }
        };
        for k in renames.keys() {
            if !d.params.iter().any(|p| &p.param == k) {
                let mut is = issue(
                    PortErrorKind::RulesInvalid,
                    format!(
                        "{rule_name}: `params` renames '{k}', which {module} does not have here (it has {})",
                        d.params.iter().map(|p| p.param.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                );
                is.layer = Some(layer.name.clone());
                issues.push(is);
            }
        }
        let mut filled = Vec::new();
        let mut lnotes = d.notes.clone();
        for dp in &d.params {
            let name = renames
                .get(&dp.param)
                .cloned()
                .unwrap_or_else(|| dp.param.clone());
            let target = join_target(&target_path, &name);
            if let Some(v) = dp.inputs.iter().find(|i| var_rule_inputs.contains(*i)) {
                lnotes.push(format!(
                    "'{target}' not filled by the preset: '{v}' is read by a [[var]] rule"
                ));
                continue;
            }
            if dp.optional {
                if let Some(ti) = &target_index {
                    if !ti.contains_key(target.as_str()) {
                        continue;
                    }
                }
            }
            match input_specs(&dp.inputs) {
                Ok(specs) => {
                    consumed.extend(dp.inputs.iter().cloned());
                    filled.push(target.clone());
                    params.push(PlannedParam {
                        target,
                        dtype: tf_bundle::DType::Float32,
                        shape: vec![],
                        inputs: specs,
                        transforms: dp.ops.clone(),
                        layer: Some(layer.name.clone()),
                        rule: rule_name.clone(),
                    });
                }
                Err(missing) => {
                    let mut is = issue(
                        PortErrorKind::MissingInput,
                        format!(
                            "layer '{}': '{missing}' is not in the checkpoint",
                            layer.name
                        ),
                    );
                    is.tf = Some(missing);
                    is.target = Some(target);
                    issues.push(is);
                }
            }
        }
        planned_layers.push(PlannedLayer {
            layer: layer.name.clone(),
            scope: layer.scope.clone(),
            origin: layer.origin,
            source: Some(source),
            module: Some(module),
            target: target_path,
            rule: rule_name,
            options: layer.opts.clone(),
            module_options: d.module_options,
            params: filled,
            notes: lnotes,
        });
    }

    // 3. metas, ignored targets, duplicates, target checks
    let tignore = Matcher::new(&rules.ignore.targets, &rules.ignore.targets_match)?;
    let mut ignored_targets = Vec::new();
    let mut kept: Vec<PlannedParam> = Vec::new();
    for mut p in params {
        if tignore.reason(&p.target, "targets").is_some() {
            ignored_targets.push(p.target.clone());
            continue;
        }
        let metas: Vec<Meta> = p.inputs.iter().map(TensorSpec::meta).collect();
        match chain_meta(&metas, &p.transforms) {
            Ok(m) => {
                p.dtype = m.dtype;
                p.shape = m.shape;
                kept.push(p);
            }
            Err(e) => {
                let mut is = PlanIssue::from_error(&e, p.layer.as_deref());
                is.target = Some(p.target.clone());
                is.message = format!("{} ({})", is.message, p.rule);
                issues.push(is);
            }
        }
    }
    kept.sort_by(|a, b| a.target.cmp(&b.target));
    for w in kept.windows(2) {
        if w[0].target == w[1].target {
            let mut is = issue(
                PortErrorKind::DuplicateTarget,
                format!(
                    "'{}' is filled twice: by {} and by {}",
                    w[0].target, w[0].rule, w[1].rule
                ),
            );
            is.target = Some(w[0].target.clone());
            issues.push(is);
        }
    }
    let mut unfilled = Vec::new();
    if let Some(ti) = &target_index {
        for p in &mut kept {
            match ti.get(p.target.as_str()) {
                None => {
                    let mut is = issue(
                        PortErrorKind::UnknownTarget,
                        format!(
                            "'{}' ({}, {} {}) is not a parameter of the target",
                            p.target,
                            p.rule,
                            p.dtype,
                            py_shape(&p.shape)
                        ),
                    );
                    is.target = Some(p.target.clone());
                    is.layer = p.layer.clone();
                    issues.push(is);
                }
                Some(t) => {
                    if t.shape != p.shape {
                        let mut is = issue(
                            PortErrorKind::ShapeMismatch,
                            format!(
                                "'{}': the target has shape {}, the port gives {} (from {})",
                                p.target,
                                py_shape(&t.shape),
                                py_shape(&p.shape),
                                p.inputs
                                    .iter()
                                    .map(|i| format!("{} {}", i.name, py_shape(&i.shape)))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                        is.target = Some(p.target.clone());
                        is.layer = p.layer.clone();
                        issues.push(is);
                    } else if t.dtype != p.dtype {
                        if rules.defaults.cast {
                            p.transforms.push(Op::Cast { dtype: t.dtype });
                            p.dtype = t.dtype;
                        } else {
                            let mut is = issue(
                                PortErrorKind::DtypeMismatch,
                                format!(
                                    "'{}': the target is {}, the port gives {} (set defaults.cast = true to convert)",
                                    p.target, t.dtype, p.dtype
                                ),
                            );
                            is.target = Some(p.target.clone());
                            is.layer = p.layer.clone();
                            issues.push(is);
                        }
                    }
                }
            }
        }
        let planned: BTreeSet<&str> = kept.iter().map(|p| p.target.as_str()).collect();
        for t in targets.unwrap_or(&[]) {
            if planned.contains(t.name.as_str()) {
                continue;
            }
            if tignore.reason(&t.name, "targets").is_some() {
                if !ignored_targets.contains(&t.name) {
                    ignored_targets.push(t.name.clone());
                }
                continue;
            }
            let mut is = issue(
                PortErrorKind::UnfilledTarget,
                format!(
                    "target parameter '{}' ({} {}) is filled by no rule",
                    t.name,
                    t.dtype,
                    py_shape(&t.shape)
                ),
            );
            is.target = Some(t.name.clone());
            issues.push(is);
            unfilled.push(t.clone());
        }
    }
    ignored_targets.sort();
    ignored_targets.dedup();

    // 4. unmapped / ignored TF variables
    let vignore = Matcher::new(&rules.ignore.tf, &rules.ignore.tf_match)?;
    let mut ignored = Vec::new();
    let mut unmapped = Vec::new();
    for (name, m) in &vars {
        if consumed.contains(name) {
            continue;
        }
        let reason = vignore
            .reason(name, "tf")
            .or_else(|| ignored_by_layer.get(name).cloned())
            .or_else(|| {
                (rules.defaults.ignore_bookkeeping && is_bookkeeping(name))
                    .then(|| "bookkeeping".to_string())
            });
        match reason {
            Some(reason) => ignored.push(Ignored {
                name: name.clone(),
                reason,
            }),
            None => {
                let mut is = issue(
                    PortErrorKind::UnmappedVariable,
                    format!(
                        "TF variable '{name}' ({} {}) is read by no rule; map it or list it under [ignore]",
                        m.dtype,
                        py_shape(&m.shape)
                    ),
                );
                is.tf = Some(name.clone());
                issues.push(is);
                unmapped.push(TensorSpec::new(name.clone(), m.dtype, m.shape.clone()));
            }
        }
    }
    Ok(PortPlan {
        format: PLAN_FORMAT.into(),
        version: PLAN_VERSION,
        ok: issues.is_empty(),
        checked_against_target: targets.is_some(),
        layers: planned_layers,
        params: kept,
        ignored,
        unmapped,
        unfilled,
        ignored_targets,
        issues,
        notes,
    })
}

/// A TF checkpoint (V1 or V2, any sharding) as a [`TensorSource`]; every read is CRC-checked
/// by `tf-bundle`.
impl TensorSource for tf_bundle::Checkpoint {
    fn read(&self, name: &str) -> Result<Array, Box<dyn std::error::Error + Send + Sync>> {
        let t = tf_bundle::Checkpoint::read(self, name)?;
        match t.data {
            tf_bundle::TensorData::Bytes(b) => Ok(Array::new(t.dtype, t.shape, b)?),
            tf_bundle::TensorData::Strings(_) => {
                Err(format!("'{name}' is a string tensor, not a parameter").into())
            }
        }
    }
}

/// The tensor list of a TF checkpoint as source specs (strings and other non-numeric entries
/// included: the plan reports them as unmapped unless ignored).
pub fn checkpoint_specs(ckpt: &tf_bundle::Checkpoint) -> Vec<TensorSpec> {
    ckpt.tensors()
        .iter()
        .map(|t| TensorSpec::new(t.name.clone(), t.dtype, t.shape.clone()))
        .collect()
}

impl PortPlan {
    /// The plan as explicit rules: one `[[var]]` rule per target parameter (its inputs and
    /// transform chain), every ignored TF variable and target listed, no presets
    /// (`auto = false`). Planning these rules without a network dict gives the same
    /// parameters: a way to freeze a port and edit it by hand.
    pub fn to_explicit_rules(&self) -> crate::rules::Rules {
        use crate::rules::{Defaults, Ignore, Rules, VarRule};
        Rules {
            version: crate::rules::RULES_VERSION,
            defaults: Defaults {
                style: Style::Rf,
                auto: false,
                ignore_bookkeeping: false,
                cast: false,
            },
            ignore: Ignore {
                tf: self.ignored.iter().map(|i| i.name.clone()).collect(),
                tf_match: vec![],
                targets: self.ignored_targets.clone(),
                targets_match: vec![],
            },
            layers: vec![],
            vars: self
                .params
                .iter()
                .map(|p| VarRule {
                    name: None,
                    pattern: None,
                    inputs: Some(p.inputs.iter().map(|i| i.name.clone()).collect()),
                    target: p.target.clone(),
                    transforms: p.transforms.clone(),
                })
                .collect(),
        }
    }
}
