//! Finding the TF layers: from the config's network dict (parsed by `returnn-config`), and
//! from the variable names and shapes where no network dict covers them.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use returnn_config::{Config, Value};

use crate::error::{err, PortError, PortErrorKind};
use crate::kinds::{LayerOpts, Origin, SourceKind, TfLayer, VarIndex};

/// The parts of a RETURNN config the port needs: the `network` dict and `extern_data`.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkDict {
    network: Value,
    extern_data: Option<Value>,
}

fn net_err(msg: impl Into<String>) -> PortError {
    err(PortErrorKind::NetworkInvalid, msg)
}

/// `rec` units with the NativeLSTM layout under TF 2 (RETURNN substitutes `lstm`, `lstmp`
/// with NativeLSTM2, and `lstmblock`, `lstmblockfused`, `cudnnlstm` on CPU likewise).
const NATIVE_UNITS: &[&str] = &[
    "nativelstm",
    "nativelstm2",
    "lstm",
    "lstmp",
    "lstmblock",
    "lstmblockfused",
    "cudnnlstm",
];
/// `rec` units with the TF LSTMCell layout.
const CELL_UNITS: &[&str] = &["standardlstm", "lstmcell", "basiclstm", "basiclstmcell"];

impl NetworkDict {
    /// Reads `network` (and `extern_data`, if present) from a parsed config.
    pub fn from_config(config: &Config) -> Result<NetworkDict, PortError> {
        let network = config
            .get("network")
            .ok_or_else(|| net_err("the config has no `network` dict"))?;
        let extern_data = config.get("extern_data").cloned();
        NetworkDict::new(network.clone(), extern_data)
    }

    /// From the `network` value (a dict of layer dicts) and optional `extern_data`.
    pub fn new(network: Value, extern_data: Option<Value>) -> Result<NetworkDict, PortError> {
        if !matches!(network, Value::Dict(_)) {
            return Err(net_err(format!(
                "`network` must be a dict literal, found {}",
                describe(&network)
            )));
        }
        Ok(NetworkDict {
            network,
            extern_data,
        })
    }

    /// The layers with (possible) parameters, in dict order, sub-layers after their parent.
    pub fn layers(&self) -> Result<Vec<TfLayer>, PortError> {
        let mut out = Vec::new();
        self.walk(&self.network, "", "", &mut out)?;
        Ok(out)
    }

    fn is_sparse_data(&self, key: &str) -> bool {
        let Some(ed) = &self.extern_data else {
            return false;
        };
        let Some(d) = ed.get_str_key(key) else {
            return false;
        };
        d.get_str_key("sparse").and_then(Value::truthy) == Some(true)
            || d.get_str_key("sparse_dim")
                .is_some_and(|v| !matches!(v, Value::None))
    }

    fn walk(
        &self,
        dict: &Value,
        name_prefix: &str,
        scope_prefix: &str,
        out: &mut Vec<TfLayer>,
    ) -> Result<(), PortError> {
        let Value::Dict(items) = dict else {
            return Err(net_err(format!(
                "a network must be a dict, found {}",
                describe(dict)
            )));
        };
        for (k, layer) in items {
            let Value::Str(lname) = k else {
                return Err(net_err(format!(
                    "layer names must be strings, found {}",
                    describe(k)
                )));
            };
            let path = format!("{name_prefix}{lname}");
            if !matches!(layer, Value::Dict(_)) {
                return Err(net_err(format!(
                    "layer '{path}' must be a dict, found {}",
                    describe(layer)
                )));
            }
            let class = match layer.get_str_key("class") {
                Some(Value::Str(c)) => c.clone(),
                Some(other) => {
                    return Err(net_err(format!(
                        "layer '{path}': `class` must be a string, found {}",
                        describe(other)
                    )))
                }
                None => {
                    return Err(net_err(format!("layer '{path}' has no `class`")));
                }
            };
            let scope = match layer.get_str_key("name_scope") {
                Some(Value::Str(s)) if s.starts_with('/') => s.trim_start_matches('/').to_string(),
                Some(Value::Str(s)) if s.is_empty() => {
                    scope_prefix.trim_end_matches('/').to_string()
                }
                Some(Value::Str(s)) => format!("{scope_prefix}{s}"),
                _ => format!("{scope_prefix}{lname}"),
            };
            let mut opts = LayerOpts {
                class: Some(class.clone()),
                n_out: int(layer, "n_out"),
                ..LayerOpts::default()
            };
            let mut source = None;
            match class.as_str() {
                "subnetwork" => {
                    if let Some(sub) = layer.get_str_key("subnetwork") {
                        self.walk(sub, &format!("{path}/"), &format!("{scope}/"), out)?;
                    }
                }
                "linear" | "softmax" => {
                    opts.use_transposed_weights = boolean(layer, "use_transposed_weights");
                    opts.sparse_input = self.input_is_sparse(layer);
                    source = Some(if opts.sparse_input {
                        SourceKind::Embedding
                    } else {
                        SourceKind::Linear
                    });
                }
                "conv" => {
                    opts.groups = int(layer, "groups");
                    opts.filter_size = int_list(layer, "filter_size");
                    opts.padding = layer.get_str_key("padding").and_then(|v| v.py_str());
                    source = Some(SourceKind::Conv);
                }
                "rec" => {
                    opts.direction = int(layer, "direction");
                    match layer.get_str_key("unit") {
                        Some(sub @ Value::Dict(_)) => {
                            self.walk(sub, &format!("{path}/"), &format!("{scope}/rec/"), out)?;
                        }
                        unit => {
                            let u = unit
                                .and_then(Value::as_str)
                                .unwrap_or("lstm")
                                .to_ascii_lowercase();
                            if NATIVE_UNITS.contains(&u.as_str()) {
                                source = Some(SourceKind::NativeLstm);
                            } else if CELL_UNITS.contains(&u.as_str()) {
                                source = Some(SourceKind::LstmCell);
                            } else {
                                opts.unsupported.push(format!("rec unit {u:?}"));
                            }
                            if let Some(uo) = layer.get_str_key("unit_opts") {
                                opts.forget_bias = float(uo, "forget_bias");
                                for key in ["cell_clip", "proj_clip", "use_peepholes", "activation"]
                                {
                                    if let Some(v) = uo.get_str_key(key) {
                                        let benign = matches!(v, Value::None | Value::Bool(false));
                                        if !benign {
                                            opts.unsupported.push(format!(
                                                "unit_opts {key} = {}",
                                                v.py_repr().unwrap_or_default()
                                            ));
                                        }
                                    }
                                }
                            }
                            opts.unit = Some(u);
                        }
                    }
                }
                "batch_norm" => {
                    opts.epsilon = float(layer, "epsilon");
                    source = Some(SourceKind::BatchNorm);
                }
                "layer_norm" => {
                    opts.epsilon = float(layer, "epsilon");
                    source = Some(SourceKind::LayerNorm);
                }
                "self_attention" => {
                    opts.num_heads = int(layer, "num_heads");
                    opts.total_key_dim = int(layer, "total_key_dim");
                    opts.attention_left_only = boolean(layer, "attention_left_only");
                    source = Some(SourceKind::SelfAttention);
                }
                _ => {}
            }
            let bn = layer.get_str_key("batch_norm");
            let has_bn = class != "batch_norm" && bn.and_then(Value::truthy) == Some(true);
            if source.is_some()
                || class != "subnetwork" && class != "rec"
                || !opts.unsupported.is_empty()
            {
                out.push(TfLayer {
                    name: path.clone(),
                    scope: scope.clone(),
                    source,
                    origin: Origin::Network,
                    opts,
                });
            }
            if has_bn {
                let epsilon = bn.and_then(|b| float(b, "epsilon"));
                out.push(TfLayer {
                    name: format!("{path}/batch_norm"),
                    scope,
                    source: Some(SourceKind::BatchNorm),
                    origin: Origin::Network,
                    opts: LayerOpts {
                        class: Some("batch_norm".into()),
                        epsilon,
                        ..LayerOpts::default()
                    },
                });
            }
        }
        Ok(())
    }

    /// Whether a layer's `from` is sparse extern data (`data:<key>` or `data` with
    /// `sparse: True` in `extern_data`).
    fn input_is_sparse(&self, layer: &Value) -> bool {
        let from = match layer.get_str_key("from") {
            None => vec!["data".to_string()],
            Some(Value::Str(s)) => vec![s.clone()],
            Some(Value::List(v)) | Some(Value::Tuple(v)) => v
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        };
        match from.as_slice() {
            [one] => {
                let key = one.strip_prefix("base:").unwrap_or(one);
                let key =
                    key.strip_prefix("data:")
                        .or(if key == "data" { Some("data") } else { None });
                key.is_some_and(|k| self.is_sparse_data(k))
            }
            _ => false,
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Unsupported(d) => format!("a non-literal value ({d})"),
        other => format!("a {}", other.type_name()),
    }
}

fn int(d: &Value, key: &str) -> Option<i64> {
    match d.get_str_key(key)? {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn float(d: &Value, key: &str) -> Option<f64> {
    match d.get_str_key(key)? {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn boolean(d: &Value, key: &str) -> Option<bool> {
    match d.get_str_key(key)? {
        Value::Bool(b) => Some(*b),
        Value::Int(i) => Some(*i != 0),
        _ => None,
    }
}

fn int_list(d: &Value, key: &str) -> Option<Vec<i64>> {
    match d.get_str_key(key)? {
        Value::List(v) | Value::Tuple(v) => v
            .iter()
            .map(|x| match x {
                Value::Int(i) => Some(*i),
                _ => None,
            })
            .collect(),
        Value::Int(i) => Some(vec![*i]),
        _ => None,
    }
}

/// Names of checkpoint entries that are training bookkeeping, not model parameters:
/// `global_step`, `epoch`, Adam's `beta1_power`/`beta2_power`, and optimizer slots
/// (`<var>/Adam`, `<var>/Adam_1`, `/Momentum`, `/Adagrad`, `/RMSProp`, `/RMSProp_1`,
/// `/accumulator`, ...).
pub fn is_bookkeeping(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "global_step",
        "epoch",
        "beta1_power",
        "beta2_power",
        "learning_rate",
    ];
    const SLOTS: &[&str] = &[
        "Adam",
        "Adam_1",
        "Momentum",
        "Adagrad",
        "Adadelta",
        "Adadelta_1",
        "RMSProp",
        "RMSProp_1",
        "Ftrl",
        "Ftrl_1",
        "accumulator",
        "accum_grad",
    ];
    if EXACT.contains(&name) {
        return true;
    }
    name.rsplit_once('/')
        .is_some_and(|(_, last)| SLOTS.contains(&last))
}

/// Infers layers from variable names (and shapes) for the variables `claimed` does not cover.
/// Unrecognised variables stay out (they become unmapped in the plan).
pub fn infer_layers(vars: &VarIndex, claimed: &dyn Fn(&str) -> bool) -> Vec<TfLayer> {
    struct Pat {
        re: Regex,
        kind: SourceKind,
    }
    let pats = [
        (r"^(.+)/rec/(?:W|W_re|b)$", SourceKind::NativeLstm),
        (
            r"^(.+)/rec/(?:rnn/)?(?:lstm_cell|basic_lstm_cell)/(?:kernel|bias|weights|biases|projection/kernel)$",
            SourceKind::LstmCell,
        ),
        (
            r"^(.+)/rec/(?:lstm_block_wrapper|lstm_fused_cell)/(?:kernel|bias)$",
            SourceKind::LstmBlock,
        ),
        (
            r"^(.+)/rec/cudnn/(?:CudnnRNNParamsToCanonical:\d+|params_canonical/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell/(?:kernel|bias))$",
            SourceKind::CudnnLstm,
        ),
        (r"^(.+)/batch_norm/[^/]+$", SourceKind::BatchNorm),
        (r"^(.+)/QKV$", SourceKind::SelfAttention),
        (r"^(.+)/(?:W|b|bias|scale)$", SourceKind::Linear),
    ];
    let pats: Vec<Pat> = pats
        .iter()
        .filter_map(|(p, k)| Regex::new(p).ok().map(|re| Pat { re, kind: *k }))
        .collect();
    // scope -> kind, first come
    let mut found: BTreeMap<String, SourceKind> = BTreeMap::new();
    let mut bn_scopes: BTreeSet<String> = BTreeSet::new();
    for name in vars.keys() {
        if claimed(name) || is_bookkeeping(name) {
            continue;
        }
        for p in &pats {
            let Some(c) = p.re.captures(name) else {
                continue;
            };
            let scope = c.get(1).map_or("", |m| m.as_str()).to_string();
            if p.kind == SourceKind::BatchNorm {
                bn_scopes.insert(scope);
            } else {
                found.entry(scope).or_insert(p.kind);
            }
            break;
        }
    }
    let mut out = Vec::new();
    for (scope, kind) in &found {
        let get = |s: &str| vars.get(&format!("{scope}/{s}"));
        let kind = if *kind == SourceKind::Linear {
            match (get("W"), get("scale")) {
                (Some(w), _) if w.shape.len() >= 3 => SourceKind::Conv,
                (Some(w), _) if w.shape.len() == 2 => SourceKind::Linear,
                (None, Some(_)) if get("bias").is_some() => SourceKind::LayerNorm,
                _ => continue,
            }
        } else {
            *kind
        };
        out.push(TfLayer {
            name: scope.clone(),
            scope: scope.clone(),
            source: Some(kind),
            origin: Origin::Variables,
            opts: LayerOpts::default(),
        });
    }
    for scope in bn_scopes {
        // a batch_norm layer, or the batch_norm option of a layer with its own parameters
        let name = if found.contains_key(&scope) {
            format!("{scope}/batch_norm")
        } else {
            scope.clone()
        };
        out.push(TfLayer {
            name,
            scope,
            source: Some(SourceKind::BatchNorm),
            origin: Origin::Variables,
            opts: LayerOpts::default(),
        });
    }
    out
}
