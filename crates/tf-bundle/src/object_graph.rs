//! TF2 object-based checkpoints (docs/tf-bundle-format.md §7): the
//! `_CHECKPOINTABLE_OBJECT_GRAPH` string scalar decoded into, per checkpoint key, the object path and the TF1-style `full_name`.

use std::collections::VecDeque;

use prost::Message;

use crate::error::{Error, Part, Result};
use crate::proto::TrackableObjectGraph;
use crate::{Checkpoint, TensorData};

/// The key of the serialized object graph.
pub const OBJECT_GRAPH_KEY: &str = "_CHECKPOINTABLE_OBJECT_GRAPH";

/// One saved attribute of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectName {
    /// The bundle key (as given in the graph; never rebuilt).
    pub checkpoint_key: String,
    /// Escaped local names from the root, joined with `/` (slot variables:
    /// `<variable path>/.OPTIMIZER_SLOT/<optimizer path>/<slot name>`); empty for the root.
    pub object_path: String,
    /// The attribute name (`VARIABLE_VALUE`, ...).
    pub attribute: String,
    /// The variable's TF1-style name (may be empty).
    pub full_name: String,
}

/// TF's escaping of local names in keys: `.` → `..`, then `/` → `.S`.
pub fn escape_local_name(name: &str) -> String {
    name.replace('.', "..").replace('/', ".S")
}

/// Decodes a serialized `TrackableObjectGraph` into the attribute list (sorted by key).
pub fn parse(bytes: &[u8]) -> Result<Vec<ObjectName>> {
    let g = TrackableObjectGraph::decode(bytes).map_err(|e| {
        Error::corrupt(
            Part::ObjectGraph,
            format!("object graph not parseable: {e}"),
        )
    })?;
    let n = g.nodes.len();
    let node = |id: i32, what: &str| -> Result<usize> {
        usize::try_from(id).ok().filter(|&i| i < n).ok_or_else(|| {
            Error::corrupt(
                Part::ObjectGraph,
                format!("object graph: {what} node id {id} out of range 0..{n}"),
            )
        })
    };
    let mut paths: Vec<Option<String>> = vec![None; n];
    if n > 0 {
        paths[0] = Some(String::new());
    }
    let mut queue = VecDeque::from([0usize]);
    while let Some(i) = queue.pop_front() {
        if i >= n {
            break;
        }
        let base = paths[i].clone().unwrap_or_default();
        for c in &g.nodes[i].children {
            let j = node(c.node_id, "child")?;
            if paths[j].is_none() {
                let esc = escape_local_name(&c.local_name);
                paths[j] = Some(if base.is_empty() {
                    esc
                } else {
                    format!("{base}/{esc}")
                });
                queue.push_back(j);
            }
        }
    }
    // Slot variables hang off their optimizer.
    for (oi, opt) in g.nodes.iter().enumerate() {
        for s in &opt.slot_variables {
            let var = node(s.original_variable_node_id, "slot's original variable")?;
            let slot = node(s.slot_variable_node_id, "slot variable")?;
            if paths[slot].is_none() {
                if let (Some(vp), Some(op)) = (&paths[var], &paths[oi]) {
                    paths[slot] = Some(format!(
                        "{vp}/.OPTIMIZER_SLOT/{op}/{}",
                        escape_local_name(&s.slot_name)
                    ));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (i, obj) in g.nodes.iter().enumerate() {
        for a in &obj.attributes {
            out.push(ObjectName {
                checkpoint_key: a.checkpoint_key.clone(),
                object_path: paths[i].clone().unwrap_or_default(),
                attribute: a.name.clone(),
                full_name: a.full_name.clone(),
            });
        }
    }
    out.sort_by(|a, b| a.checkpoint_key.cmp(&b.checkpoint_key));
    Ok(out)
}

/// The object names of a TF2 checkpoint; `Ok(None)` if it has no object graph.
pub fn from_checkpoint(ck: &Checkpoint) -> Result<Option<Vec<ObjectName>>> {
    if ck.get(OBJECT_GRAPH_KEY).is_none() {
        return Ok(None);
    }
    let t = ck.read(OBJECT_GRAPH_KEY)?;
    match t.data {
        TensorData::Strings(s) if s.len() == 1 => parse(&s[0])
            .map(Some)
            .map_err(|e| e.with_key(OBJECT_GRAPH_KEY)),
        _ => Err(
            Error::corrupt(Part::ObjectGraph, "the object graph is not a scalar string")
                .with_key(OBJECT_GRAPH_KEY),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::trackable_object_graph::{trackable_object as to, TrackableObject};

    #[test]
    fn paths_and_slots() {
        let attr = |key: &str, full: &str| to::SerializedTensor {
            name: "VARIABLE_VALUE".into(),
            full_name: full.into(),
            checkpoint_key: key.into(),
        };
        let g = TrackableObjectGraph {
            nodes: vec![
                TrackableObject {
                    children: vec![
                        to::ObjectReference {
                            node_id: 1,
                            local_name: "model".into(),
                        },
                        to::ObjectReference {
                            node_id: 3,
                            local_name: "opt".into(),
                        },
                    ],
                    ..Default::default()
                },
                TrackableObject {
                    children: vec![to::ObjectReference {
                        node_id: 2,
                        local_name: "a.b/c".into(),
                    }],
                    ..Default::default()
                },
                TrackableObject {
                    attributes: vec![attr("model/a..b.Sc/.ATTRIBUTES/VARIABLE_VALUE", "kernel")],
                    ..Default::default()
                },
                TrackableObject {
                    slot_variables: vec![to::SlotVariableReference {
                        original_variable_node_id: 2,
                        slot_name: "m".into(),
                        slot_variable_node_id: 4,
                    }],
                    ..Default::default()
                },
                TrackableObject {
                    attributes: vec![attr("slotkey", "")],
                    ..Default::default()
                },
            ],
        };
        let names = parse(&g.encode_to_vec()).unwrap();
        assert_eq!(names.len(), 2);
        assert_eq!(names[0].object_path, "model/a..b.Sc");
        assert_eq!(names[0].full_name, "kernel");
        assert_eq!(names[1].object_path, "model/a..b.Sc/.OPTIMIZER_SLOT/opt/m");
        let mut bad = g.clone();
        bad.nodes[0].children[0].node_id = 9;
        assert!(parse(&bad.encode_to_vec()).is_err());
    }
}
