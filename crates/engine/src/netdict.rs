//! Net-dict parsing: the parts of a RETURNN config's `network` and `preload_from_files` that
//! decide what is loaded (loader options, `custom_param_importer`, `SubnetworkLayer`
//! `load_on_init`; docs/returnn-mapping.md §12). Reads [`Config`] values only; opens no file.

use std::collections::BTreeMap;

use param_map::{Importer, ImporterMode, LoaderOptions};
use returnn_config::{Config, Value};

use crate::{config_value_err, unsupported, Error, ErrorKind};

/// Finds `key` with a value other than None anywhere inside a (network) value.
pub(crate) fn find_key<'a>(
    v: &'a Value,
    key: &str,
    path: &mut Vec<String>,
) -> Option<(String, &'a Value)> {
    match v {
        Value::Dict(items) => {
            for (k, val) in items {
                if let Value::Str(ks) = k {
                    if ks == key && *val != Value::None {
                        return Some((path.join("/"), val));
                    }
                    path.push(ks.clone());
                    let r = find_key(val, key, path);
                    path.pop();
                    if r.is_some() {
                        return r;
                    }
                }
            }
            None
        }
        Value::List(items) | Value::Tuple(items) => {
            items.iter().find_map(|x| find_key(x, key, path))
        }
        _ => None,
    }
}

fn str_list(v: &Value, what: &str) -> Result<Vec<String>, Error> {
    match v {
        Value::None => Ok(Vec::new()),
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => items
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    config_value_err(format!("{what}: expected strings, found {}", x.type_name()))
                })
            })
            .collect(),
        other => Err(config_value_err(format!(
            "{what}: expected a list of strings, found {}",
            other.type_name()
        ))),
    }
}

fn truthy(v: &Value, what: &str) -> Result<bool, Error> {
    v.truthy()
        .ok_or_else(|| unsupported(format!("{what}: non-literal Python value")))
}

/// One parsed `preload_from_files` entry.
#[derive(Clone, Debug)]
pub struct PreloadEntry {
    pub key: String,
    pub init_for_train: bool,
    pub opts: LoaderOptions,
}

/// Parses loader options from a dict (a `preload_from_files` entry, whose prefix key is
/// `prefix`, or a `load_on_init` dict of loader kwargs, whose prefix key is `load_if_prefix`).
fn parse_loader_opts(opts: &Value, ctx: &str, prefix_key: &str) -> Result<LoaderOptions, Error> {
    let Value::Dict(_) = opts else {
        return Err(config_value_err(format!(
            "{ctx} must be a dict, found {}",
            opts.type_name()
        )));
    };
    let what = |o: &str| format!("{ctx}[{o:?}]");
    let get = |o: &str| opts.get_str_key(o);
    let filename = match get("filename") {
        None => {
            return Err(Error::new(
                ErrorKind::PreloadFilename,
                format!("KeyError: 'filename' ({ctx} has no filename)"),
            ))
        }
        Some(Value::Str(s)) => s.clone(),
        Some(other) => {
            return Err(Error::new(
                ErrorKind::PreloadFilename,
                format!(
                    "{}: expected a str, found {}",
                    what("filename"),
                    other.type_name()
                ),
            ))
        }
    };
    if let Some(f) = get("custom_missing_load_func") {
        if *f != Value::None {
            return Err(unsupported(format!(
                "{}: a Python callable cannot be run by returnn-ckpt",
                what("custom_missing_load_func")
            )));
        }
    }
    let prefix = match get(prefix_key) {
        None | Some(Value::None) => String::new(),
        Some(Value::Str(s)) => s.clone(),
        Some(other) => {
            return Err(config_value_err(format!(
                "{}: expected a str, found {}",
                what(prefix_key),
                other.type_name()
            )))
        }
    };
    let ignore_params = match get("ignore_params") {
        None => Vec::new(),
        Some(Value::Str(_)) => {
            return Err(unsupported(format!(
                "{}: a plain string (RETURNN would test substrings); give a list",
                what("ignore_params")
            )))
        }
        Some(v) => str_list(v, &what("ignore_params"))?,
    };
    let ignore_params_prefixes = match get("ignore_params_prefixes") {
        None => Vec::new(),
        // A plain string is iterated character by character, as Python does.
        Some(Value::Str(s)) => s.chars().map(String::from).collect(),
        Some(v) => str_list(v, &what("ignore_params_prefixes"))?,
    };
    let mut var_name_mapping = BTreeMap::new();
    match get("var_name_mapping") {
        None | Some(Value::None) => {}
        Some(Value::Dict(m)) => {
            for (a, b) in m {
                match (a.as_str(), b.as_str()) {
                    (Some(a), Some(b)) => {
                        var_name_mapping.insert(a.to_string(), b.to_string());
                    }
                    _ => {
                        return Err(config_value_err(format!(
                            "{}: expected str -> str",
                            what("var_name_mapping")
                        )))
                    }
                }
            }
        }
        Some(other) => {
            return Err(config_value_err(format!(
                "{}: expected a dict, found {}",
                what("var_name_mapping"),
                other.type_name()
            )))
        }
    }
    let ignore_missing = match get("ignore_missing") {
        None => false,
        Some(v) => truthy(v, &what("ignore_missing"))?,
    };
    Ok(LoaderOptions {
        filename,
        params_prefix: String::new(),
        load_if_prefix: prefix,
        ignore_missing,
        ignore_params,
        ignore_params_prefixes,
        var_name_mapping,
        network: None,
        importers: Vec::new(),
    })
}

/// Parses `preload_from_files` (entries in ascending sorted key order).
pub fn preload_entries(config: &Config) -> Result<Vec<PreloadEntry>, Error> {
    let items = match config.get("preload_from_files") {
        None | Some(Value::None) => return Ok(Vec::new()),
        Some(Value::Dict(items)) => items,
        Some(other) => {
            return Err(config_value_err(format!(
                "preload_from_files must be a dict, found {}",
                other.type_name()
            )))
        }
    };
    let mut out = Vec::new();
    for (k, opts) in items {
        let key = k
            .as_str()
            .ok_or_else(|| config_value_err("preload_from_files keys must be strings"))?
            .to_string();
        let ctx = format!("preload_from_files[{key:?}]");
        let loader = parse_loader_opts(opts, &ctx, "prefix")?;
        let what = |o: &str| format!("{ctx}[{o:?}]");
        let get = |o: &str| opts.get_str_key(o);
        let init_for_train = match get("init_for_train") {
            None => false,
            Some(v) => truthy(v, &what("init_for_train"))?,
        };
        out.push(PreloadEntry {
            key,
            init_for_train,
            opts: loader,
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// The `custom_param_importer` of the network's top-level layers (string modes), with the
/// layer's name scope prefix (`<layer>/`, `<layer>/rec/` for a `rec` layer).
pub fn network_importers(config: &Config) -> Result<Vec<Importer>, Error> {
    match config.get("network") {
        Some(Value::Dict(layers)) => layer_importers(layers, ""),
        _ => Ok(Vec::new()),
    }
}

/// Importers of the layers of one network dict, whose absolute scope is `scope`.
fn layer_importers(layers: &[(Value, Value)], scope: &str) -> Result<Vec<Importer>, Error> {
    let mut out = Vec::new();
    for (name, layer) in layers {
        let (Some(name), Some(v)) = (name.as_str(), layer.get_str_key("custom_param_importer"))
        else {
            continue;
        };
        let mode = match v {
            Value::Str(m) if m.is_empty() => continue,
            Value::Str(m) => ImporterMode::parse(m),
            Value::Unsupported(what) => {
                return Err(unsupported(format!(
                    "layer '{scope}{name}': custom_param_importer {what} is a Python callable, which returnn-ckpt cannot run"
                )))
            }
            other => match other.truthy() {
                Some(false) => continue,
                _ => ImporterMode::Other(other.py_repr().unwrap_or_default()),
            },
        };
        let is_rec = layer.get_str_key("class").and_then(Value::as_str) == Some("rec");
        let tf = tf_scope_name(name);
        out.push(Importer {
            layer: format!("{scope}{name}"),
            prefix: if is_rec {
                format!("{scope}{tf}/rec/")
            } else {
                format!("{scope}{tf}/")
            },
            mode,
        });
    }
    Ok(out)
}

/// RETURNN's TF name scope of a layer name (`get_valid_scope_name_from_str`, R-SUB-4): non-ASCII
/// characters are dropped, each of `:(){}&+-*'" ,` becomes `__`, and a leading `_`, `-`, `\`
/// or `/` becomes `.<code>.` (so layer `r-1` has the scope `r__1`).
pub fn tf_scope_name(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars().filter(char::is_ascii) {
        if ":(){}&+-*'\" ,".contains(c) {
            s.push_str("__");
        } else {
            s.push(c);
        }
    }
    match s.chars().next() {
        Some(c @ ('_' | '-' | '\\' | '/')) => format!(".{}.{}", c as u32, &s[1..]),
        _ => s,
    }
}

/// One `SubnetworkLayer` `load_on_init` loader of the network (see [`load_on_init_loaders`]).
#[derive(Clone, Debug)]
pub struct LoadOnInit {
    /// The layer's path in the net dict (`sub`, `dec/sub` for a layer in the `rec` unit of
    /// `dec`, `outer/sub` inside the subnetwork `outer`); the plan's entry is
    /// `<layer>.load_on_init`.
    pub layer: String,
    /// The loader: `params_prefix` = the layer's absolute name scope (`sub/`,
    /// `dec/rec/sub/`), `network` = the subnetwork, whose layers' importers it carries.
    pub opts: LoaderOptions,
    /// How often RETURNN constructs the loader (R-SUB-2): twice outside any `rec` unit
    /// (`SubnetworkLayer.__init__`, then `complete_construction_parent_subnet_layer` from
    /// `construct_from_dict`), once inside a `rec` unit (R-SUB-3: the rec cell constructs its
    /// layers one by one, never through `construct_from_dict`, also when a layer is moved out
    /// of the loop).
    pub calls: usize,
}

/// `SubnetworkLayer` `load_on_init` anywhere in the network where RETURNN's name scopes are
/// known (R-SUB-1..3): top-level layers, layers of a `subnetwork`, layers of a `rec` unit
/// (a dict), at any depth, in net-dict order. Scopes: a subnetwork adds `<name>/`, a `rec`
/// layer `<name>/rec/`. A `load_on_init` inside the subnetwork of a layer that has one itself,
/// or under any other layer kind, is `unsupported` (never silently ignored).
pub fn load_on_init_loaders(config: &Config) -> Result<Vec<LoadOnInit>, Error> {
    let mut out = Vec::new();
    if let Some(Value::Dict(layers)) = config.get("network") {
        walk_load_on_init(layers, &Scope::default(), &mut out)?;
    }
    Ok(out)
}

/// Where a net dict sits: its path in the config, its TF name scope, its RETURNN network name,
/// and whether it is (inside) a `rec` unit.
#[derive(Clone, Debug, Default)]
struct Scope {
    path: String,
    tf: String,
    net: String,
    in_rec: bool,
}

fn walk_load_on_init(
    layers: &[(Value, Value)],
    scope: &Scope,
    out: &mut Vec<LoadOnInit>,
) -> Result<(), Error> {
    for (name, layer) in layers {
        let Some(name) = name.as_str() else { continue };
        let path = format!("{}{name}", scope.path);
        let tf = format!("{}{}/", scope.tf, tf_scope_name(name));
        let net = format!("{}{name}", scope.net);
        let sub = layer.get_str_key("subnetwork");
        let class = layer.get_str_key("class").and_then(Value::as_str);
        let here = match layer.get_str_key("load_on_init") {
            None | Some(Value::None) => None,
            Some(v) => Some(v),
        };
        if let Some(lo) = here {
            if let Some(sub) = sub {
                if let Some((deep, _)) = find_key(sub, "load_on_init", &mut vec![path.clone()]) {
                    return Err(unsupported(format!(
                        "nested load_on_init in '{deep}' (inside the subnetwork of '{path}', which has one itself) is not planned by returnn-ckpt"
                    )));
                }
            }
            let ctx = format!("network[{path:?}][\"load_on_init\"]");
            let mut opts = match lo {
                Value::Str(f) => LoaderOptions {
                    filename: f.clone(),
                    ..LoaderOptions::default()
                },
                v @ Value::Dict(_) => parse_loader_opts(v, &ctx, "load_if_prefix")?,
                other => {
                    return Err(unsupported(format!(
                        "{ctx}: {} (a callable or non-literal value) cannot be evaluated by returnn-ckpt",
                        other.type_name()
                    )))
                }
            };
            opts.params_prefix = tf.clone();
            opts.network = Some(format!("<TFNetwork '{net}'>"));
            if let Some(Value::Dict(sublayers)) = sub {
                opts.importers = layer_importers(sublayers, &tf)?;
            }
            out.push(LoadOnInit {
                layer: path,
                opts,
                calls: if scope.in_rec { 1 } else { 2 },
            });
            continue;
        }
        let unit = layer.get_str_key("unit");
        match (class, sub, unit) {
            (_, Some(Value::Dict(sublayers)), _) => {
                let inner = Scope {
                    path: format!("{path}/"),
                    tf,
                    net: format!("{net}/"),
                    in_rec: scope.in_rec,
                };
                walk_load_on_init(sublayers, &inner, out)?;
            }
            (Some("rec"), None, Some(Value::Dict(unit_layers))) => {
                let inner = Scope {
                    path: format!("{path}/"),
                    tf: format!("{tf}rec/"),
                    net: format!("{net}(rec-subnet)/"),
                    in_rec: true,
                };
                walk_load_on_init(unit_layers, &inner, out)?;
            }
            _ => {
                if let Some((deep, _)) = find_key(layer, "load_on_init", &mut vec![path.clone()]) {
                    return Err(unsupported(format!(
                        "load_on_init in '{deep}' (under a layer of class {:?}, whose name scopes returnn-ckpt does not model) is not planned by returnn-ckpt",
                        class.unwrap_or("?")
                    )));
                }
            }
        }
    }
    Ok(())
}
