//! The variables of the network to be loaded, from a JSON list, an existing checkpoint's
//! tensor list, or a `.meta` MetaGraphDef's global variables.

use std::collections::BTreeMap;
use std::path::Path;

use param_map::TargetVar;
use prost::Message;
use tf_bundle::proto::{attr_value, collection_def, MetaGraphDef, VariableDef};
use tf_bundle::DType;

use crate::{Error, ErrorKind};

/// Upper bound for a `.meta` / JSON target file (they are small; a graph of 1 GiB is hostile).
const MAX_TARGET_FILE: u64 = 1 << 30;

fn target_err(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Target,
        format!("target '{}': {msg}", path.display()),
    )
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, Error> {
    let meta = std::fs::metadata(path).map_err(|e| target_err(path, e))?;
    if meta.len() > MAX_TARGET_FILE {
        return Err(target_err(
            path,
            format!(
                "file of {} bytes is larger than the {MAX_TARGET_FILE}-byte limit",
                meta.len()
            ),
        ));
    }
    std::fs::read(path).map_err(|e| target_err(path, e))
}

/// Loads target variables: `*.json` -> [`from_json`], `*.meta` -> [`from_meta`], anything else
/// is opened as a checkpoint ([`from_checkpoint`]).
pub fn load_targets(path: &Path) -> Result<Vec<TargetVar>, Error> {
    let s = path.to_string_lossy();
    if s.ends_with(".json") {
        from_json(&read_bounded(path)?, path)
    } else if s.ends_with(".meta") {
        from_meta(&read_bounded(path)?, path)
    } else {
        from_checkpoint(path)
    }
}

fn strip_output_index(name: &str) -> &str {
    name.strip_suffix(":0").unwrap_or(name)
}

/// `{"variables": [{"name": "l0/W", "shape": [2, 2], "dtype": "float32"}]}`; optional per
/// variable: `"non_critical": bool`, `"layer_param": bool` (default: true except
/// `global_step`). A `:0` suffix on a name is removed.
pub fn from_json(bytes: &[u8], path: &Path) -> Result<Vec<TargetVar>, Error> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| target_err(path, format!("invalid JSON: {e}")))?;
    let list = v
        .get("variables")
        .and_then(|l| l.as_array())
        .ok_or_else(|| target_err(path, "expected an object with a \"variables\" list"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let name = item
            .get("name")
            .and_then(|n| n.as_str())
            .ok_or_else(|| target_err(path, format!("variables[{i}]: missing string \"name\"")))?;
        let dtype_name = item
            .get("dtype")
            .and_then(|d| d.as_str())
            .unwrap_or("float32");
        let dtype = DType::from_name(dtype_name).ok_or_else(|| {
            target_err(
                path,
                format!("variables[{i}] ({name}): unknown dtype '{dtype_name}'"),
            )
        })?;
        let shape = item
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| {
                target_err(
                    path,
                    format!("variables[{i}] ({name}): missing \"shape\" list"),
                )
            })?
            .iter()
            .map(|d| d.as_u64())
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| {
                target_err(
                    path,
                    format!("variables[{i}] ({name}): shape must hold non-negative integers"),
                )
            })?;
        let mut t = TargetVar::new(strip_output_index(name), dtype, shape);
        if let Some(b) = item.get("non_critical").and_then(|b| b.as_bool()) {
            t.non_critical = b;
        }
        if let Some(b) = item.get("layer_param").and_then(|b| b.as_bool()) {
            t.layer_param = b;
        }
        out.push(t);
    }
    Ok(out)
}

/// The tensor list of an existing checkpoint (what a network that saved it contains).
pub fn from_checkpoint(path: &Path) -> Result<Vec<TargetVar>, Error> {
    let ckpt = tf_bundle::Checkpoint::open(path).map_err(|e| target_err(path, e))?;
    Ok(ckpt
        .tensors()
        .iter()
        .map(|t| TargetVar::new(t.name.clone(), t.dtype, t.shape.clone()))
        .collect())
}

/// The global variables (collection `variables`) of a MetaGraphDef, with dtype and shape from
/// their graph nodes. If the graph has a V2 saver (`.../SaveV2` with a constant
/// `tensor_names`), only the variables it saves are listed (RETURNN's saver covers the
/// saveable params; the learning rate and optimizer variables are not saved). Sorted by name,
/// like a checkpoint's tensor list.
pub fn from_meta(bytes: &[u8], path: &Path) -> Result<Vec<TargetVar>, Error> {
    let mg = MetaGraphDef::decode(bytes)
        .map_err(|e| target_err(path, format!("not a MetaGraphDef: {e}")))?;
    let graph = mg.graph_def.unwrap_or_default();
    let nodes: BTreeMap<&str, &tf_bundle::proto::NodeDef> =
        graph.node.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut names: Vec<String> = Vec::new();
    if let Some(col) = mg.collection_def.get("variables") {
        if let Some(collection_def::Kind::BytesList(list)) = &col.kind {
            for b in &list.value {
                let vd = VariableDef::decode(b.as_slice())
                    .map_err(|e| target_err(path, format!("bad VariableDef: {e}")))?;
                names.push(strip_output_index(&vd.variable_name).to_string());
            }
        }
    }
    // The saved names, from the saver's SaveV2 node (input 1 = tensor_names constant).
    let saved: Option<Vec<String>> = graph
        .node
        .iter()
        .filter(|n| n.op == "SaveV2")
        .find_map(|n| {
            let const_name = n.input.get(1)?.split(':').next()?;
            let c = nodes.get(const_name)?;
            match c.attr.get("value")?.value.as_ref()? {
                attr_value::Value::Tensor(t) => Some(
                    t.string_val
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                ),
                _ => None,
            }
        });
    if let Some(saved) = &saved {
        names.retain(|n| saved.contains(n));
        for s in saved {
            if !names.contains(s) && nodes.contains_key(s.as_str()) {
                names.push(s.clone());
            }
        }
    }
    names.sort();
    names.dedup();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let node = nodes
            .get(name.as_str())
            .ok_or_else(|| target_err(path, format!("variable '{name}' has no graph node")))?;
        let dtype = match node.attr.get("dtype").and_then(|a| a.value.as_ref()) {
            Some(attr_value::Value::Type(t)) => DType::from_proto(*t)
                .map_err(|e| target_err(path, format!("variable '{name}': {e}")))?,
            _ => {
                return Err(target_err(
                    path,
                    format!("variable '{name}' ({}) has no dtype attr", node.op),
                ))
            }
        };
        let shape = match node.attr.get("shape").and_then(|a| a.value.as_ref()) {
            Some(attr_value::Value::Shape(s)) if !s.unknown_rank => s
                .dim
                .iter()
                .map(|d| u64::try_from(d.size).ok())
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| {
                    target_err(path, format!("variable '{name}' has an unknown dimension"))
                })?,
            _ => {
                return Err(target_err(
                    path,
                    format!("variable '{name}' ({}) has no static shape", node.op),
                ))
            }
        };
        out.push(TargetVar::new(name, dtype, shape));
    }
    Ok(out)
}
