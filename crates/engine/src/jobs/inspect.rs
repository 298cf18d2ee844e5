//! `inspect`: a checkpoint's tensors like TF's `inspect_checkpoint` (name, dtype, shape), with
//! optional statistics (like RETURNN's `tf_inspect_checkpoint.py`: min, max, mean, stddev,
//! rms), sha256 digests, TF2 object names, or the values of chosen tensors.
//!
//! The input may be a TF checkpoint, a PyTorch `.pt` file or a `.safetensors` file
//! ([`crate::inputs`]): a `.pt` lists its state dict under its keys (each row's `path` is the
//! tensor's dotted path in the loaded object, e.g. `model.lstm.weight_ih_l0`) and adds RETURNN's
//! scalar entries under `metadata`; a safetensors file adds its `__metadata__` under
//! `safetensors_metadata`.
//!
//! Stats are defined for float16/bfloat16/float32/float64, float8, all integer dtypes and
//! bool (as 0/1), and for quantized dtypes over their raw integer storage; complex and string
//! tensors have none. NaN propagates as in numpy. A tensor that cannot be read is reported in
//! its row (`error`), and [`InspectReport::failed`] says so.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Serialize, Serializer};
use tf_bundle::{Tensor, TensorData, TensorInfo};

use crate::error::{Error, Result};
use crate::inputs::{Input, InputOptions};
use crate::progress::Progress;

/// What to inspect.
#[derive(Clone, Debug, Default)]
pub struct InspectRequest {
    /// A prefix, `PREFIX.index`/`.meta`/`.data-*`, a directory with a `checkpoint` file, or a
    /// V1 file / glob (relative to the process's directory as the face gives it).
    pub path: PathBuf,
    /// Add min/max/mean/stddev/rms per numeric tensor (reads every tensor).
    pub stats: bool,
    /// Add each tensor's sha256 (the fixtures' digest definition; reads every tensor).
    pub digest: bool,
    /// Add TF2 object paths / full names from `_CHECKPOINTABLE_OBJECT_GRAPH`.
    pub object_names: bool,
    /// Memory-map the data shards (explicit opt-in: a file truncated by another process
    /// while mapped crashes the reader with SIGBUS).
    pub mmap: bool,
}

/// Summary statistics of a numeric tensor (numpy semantics; population stddev).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub stddev: f64,
    pub rms: f64,
}

/// A float as JSON: a number, or the strings "nan"/"inf"/"-inf" (JSON has no such numbers).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JsonFloat(pub f64);

impl Serialize for JsonFloat {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("nan")
        } else if v.is_infinite() {
            s.serialize_str(if v > 0.0 { "inf" } else { "-inf" })
        } else {
            s.serialize_f64(v)
        }
    }
}

/// [`Stats`] in JSON.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct StatsJson {
    pub min: JsonFloat,
    pub max: JsonFloat,
    pub mean: JsonFloat,
    pub stddev: JsonFloat,
    pub rms: JsonFloat,
}

impl From<Stats> for StatsJson {
    fn from(s: Stats) -> StatsJson {
        StatsJson {
            min: JsonFloat(s.min),
            max: JsonFloat(s.max),
            mean: JsonFloat(s.mean),
            stddev: JsonFloat(s.stddev),
            rms: JsonFloat(s.rms),
        }
    }
}

/// One tensor (or one entry that cannot be described: dtype `unknown` with its error).
#[derive(Clone, Debug, Serialize)]
pub struct TensorRow {
    pub name: String,
    /// `.pt` only: the tensor's dotted path in the loaded object (`model.<key>` in RETURNN's
    /// layout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub dtype: String,
    pub shape: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<StatsJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
}

/// RETURNN's scalar entries of a `.pt` file (null when absent).
#[derive(Clone, Debug, Serialize)]
pub struct PtMetadata {
    pub epoch: Option<i64>,
    pub step: Option<i64>,
    pub effective_learning_rate: Option<JsonFloat>,
    pub returnn_version: Option<String>,
}

impl From<torch_pt::ReturnnScalars> for PtMetadata {
    fn from(s: torch_pt::ReturnnScalars) -> PtMetadata {
        PtMetadata {
            epoch: s.epoch,
            step: s.step,
            effective_learning_rate: s.effective_learning_rate.map(JsonFloat),
            returnn_version: s.returnn_version,
        }
    }
}

/// The listing. JSON (stable): `{"path", "format", "num_shards", "endianness", "metadata"?,
/// "safetensors_metadata"?, "tensors": [..], "notes"}`, tensors sorted by name. `format` is
/// `v2`/`v1` (TF), `pt` or `safetensors`; `num_shards` is null for `.pt` and safetensors;
/// `metadata` only for `.pt` (RETURNN's `epoch`, `step`, `effective_learning_rate`,
/// `returnn_version`, each null when absent), `safetensors_metadata` only for safetensors.
#[derive(Clone, Debug, Serialize)]
pub struct InspectReport {
    pub path: String,
    pub format: String,
    pub num_shards: Option<u32>,
    pub endianness: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PtMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safetensors_metadata: Option<BTreeMap<String, String>>,
    pub tensors: Vec<TensorRow>,
    /// What opening noticed (the checkpoint read instead of a `.meta` file or a `checkpoint`
    /// state file, a stale absolute path in a state file).
    pub notes: Vec<String>,
}

impl InspectReport {
    /// Whether any tensor could not be read or described.
    pub fn failed(&self) -> bool {
        self.tensors.iter().any(|t| t.error.is_some())
    }
}

/// Opens any input for a job (see [`crate::inputs`]).
pub(crate) fn open_input(path: &std::path::Path, mmap: bool) -> Result<Input> {
    Input::open(path, &InputOptions { mmap })
}

/// Lists the checkpoint.
pub fn run(req: &InspectRequest, progress: &dyn Progress) -> Result<InspectReport> {
    let input = open_input(&req.path, req.mmap)?;
    let mut notes = input.notes().to_vec();
    let objects: HashMap<String, tf_bundle::object_graph::ObjectName> =
        match (req.object_names, input.checkpoint()) {
            (true, Some(ck)) => tf_bundle::object_graph::from_checkpoint(ck)
                .map_err(|e| {
                    let msg = format!("{e}");
                    Error::from(e).map_message(|_| msg)
                })?
                .unwrap_or_default()
                .into_iter()
                .map(|o| (o.checkpoint_key.clone(), o))
                .collect(),
            (true, None) => {
                notes.push(format!(
                    "--object-names: a {} file has no TF2 object graph",
                    input.format_name()
                ));
                HashMap::new()
            }
            _ => HashMap::new(),
        };
    let want = tf_bundle::scan::Want {
        stats: req.stats,
        digest: req.digest,
    };
    let scanned = if want.stats || want.digest {
        progress.begin("inspect", input.total_bytes());
        let advance = |n: u64| progress.advance(n);
        let r = input.scan(want, &advance);
        progress.end();
        r
    } else {
        Vec::new()
    };
    let mut rows: Vec<TensorRow> = Vec::new();
    for (i, info) in input.tensors().iter().enumerate() {
        let obj = objects.get(&info.name);
        let mut row = TensorRow {
            name: info.name.clone(),
            path: input.pt_tensor(&info.name).map(|t| t.path.to_string()),
            dtype: info.dtype.name().to_string(),
            shape: info.shape.clone(),
            sha256: None,
            error: None,
            stats: None,
            object_path: obj.map(|o| o.object_path.clone()),
            full_name: obj.map(|o| o.full_name.clone()),
        };
        match scanned.get(i) {
            Some(Ok(sc)) => {
                row.sha256 = sc.sha256.as_ref().map(tf_bundle::digest::hex);
                row.stats = sc.stats.map(|s| StatsJson::from(Stats::from(s)));
            }
            Some(Err(e)) => row.error = Some(e.to_string()),
            None => {}
        }
        rows.push(row);
    }
    for p in input.problems() {
        rows.push(TensorRow {
            name: p.name.clone(),
            path: None,
            dtype: "unknown".into(),
            shape: Vec::new(),
            sha256: None,
            error: Some(p.error.to_string()),
            stats: None,
            object_path: None,
            full_name: None,
        });
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(InspectReport {
        path: input.shown(),
        format: input.format_name(),
        num_shards: input.num_shards(),
        endianness: input.endianness(),
        metadata: input.returnn_scalars().map(PtMetadata::from),
        safetensors_metadata: input.safetensors_metadata().cloned(),
        tensors: rows,
        notes,
    })
}

// ------------------------------------------------------------------------------------------
// Values of chosen tensors

/// Which tensors' values to return.
#[derive(Clone, Debug, Default)]
pub struct ValuesRequest {
    pub path: PathBuf,
    pub tensors: Vec<String>,
    /// Add each tensor's sha256.
    pub digest: bool,
    pub mmap: bool,
    /// List every element in the JSON (default: the first [`VALUES_LIMIT`]).
    pub all: bool,
}

/// One element, typed.
#[derive(Clone, Debug, PartialEq)]
pub enum Elem {
    F(f64),
    I(i64),
    U(u64),
    B(bool),
    C(f64, f64),
    S(Vec<u8>),
}

/// The shortest string that parses back to exactly `v` (`1.0`, `-0.0`, `1e-7`, `nan`).
pub fn float_repr(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{v:?}")
    }
}

impl Serialize for Elem {
    /// JSON: floats as numbers (the element's exact value as a double, shortest form) and
    /// the strings "nan", "inf", "-inf" (JSON has no such numbers); complex as `[re, im]`;
    /// integers as numbers; bool as true/false; strings as lowercase hex.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            Elem::F(v) => JsonFloat(*v).serialize(s),
            Elem::I(v) => s.serialize_i64(*v),
            Elem::U(v) => s.serialize_u64(*v),
            Elem::B(v) => s.serialize_bool(*v),
            Elem::C(re, im) => {
                let mut seq = s.serialize_seq(Some(2))?;
                seq.serialize_element(&JsonFloat(*re))?;
                seq.serialize_element(&JsonFloat(*im))?;
                seq.end()
            }
            Elem::S(b) => s.serialize_str(&hex_lower(b)),
        }
    }
}

fn hex_lower(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(b.len() * 2);
    for &c in b {
        out.push(H[usize::from(c >> 4)] as char);
        out.push(H[usize::from(c & 15)] as char);
    }
    out
}

/// How many elements of a tensor a values report lists unless all are asked for.
pub const VALUES_LIMIT: usize = 1000;

/// The values of one tensor, flattened in C order. JSON: `{"name", "dtype", "shape",
/// "sha256"?, "num_elements", "values", "truncated"}` — `values` holds the first
/// [`VALUES_LIMIT`] elements unless all were asked for, and `truncated` says whether some were
/// left out.
#[derive(Clone, Debug)]
pub struct TensorValues {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub sha256: Option<String>,
    /// Every element (faces that summarise, like numpy's printing, need them all).
    pub values: Vec<Elem>,
    /// How many of `values` the JSON lists (`None`: all).
    pub json_limit: Option<usize>,
    /// Statistics (for faces that show them; not in the JSON contract).
    pub stats: Option<Stats>,
}

impl Serialize for TensorValues {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let shown = self
            .json_limit
            .map_or(self.values.len(), |l| l.min(self.values.len()));
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("dtype", &self.dtype)?;
        m.serialize_entry("shape", &self.shape)?;
        if let Some(d) = &self.sha256 {
            m.serialize_entry("sha256", d)?;
        }
        m.serialize_entry("num_elements", &self.values.len())?;
        m.serialize_entry("values", &self.values[..shown])?;
        m.serialize_entry("truncated", &(shown < self.values.len()))?;
        m.end()
    }
}

/// One requested tensor: its values, or why they cannot be read.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum ValuesEntry {
    Values(TensorValues),
    Error { name: String, error: String },
}

/// JSON (stable): `{"path", "tensors": [{"name", "dtype", "shape", "sha256"?, "values"} |
/// {"name", "error"}]}`.
#[derive(Clone, Debug, Serialize)]
pub struct ValuesReport {
    pub path: String,
    pub tensors: Vec<ValuesEntry>,
    pub notes: Vec<String>,
}

impl ValuesReport {
    /// Whether any requested tensor could not be read.
    pub fn failed(&self) -> bool {
        self.tensors
            .iter()
            .any(|t| matches!(t, ValuesEntry::Error { .. }))
    }
}

/// Reads the requested tensors' values.
pub fn values(req: &ValuesRequest) -> Result<ValuesReport> {
    let input = open_input(&req.path, req.mmap)?;
    let mut out = Vec::new();
    for name in &req.tensors {
        let entry = match (input.get(name), input.read(name)) {
            (Some(info), Ok(t)) => {
                let mut v = tensor_values(info, &t, req.digest);
                v.json_limit = (!req.all).then_some(VALUES_LIMIT);
                ValuesEntry::Values(v)
            }
            (_, Err(e)) => ValuesEntry::Error {
                name: name.clone(),
                error: e.to_string(),
            },
            (None, Ok(_)) => ValuesEntry::Error {
                name: name.clone(),
                error: "key not found".into(),
            },
        };
        out.push(entry);
    }
    Ok(ValuesReport {
        path: input.shown(),
        tensors: out,
        notes: input.notes().to_vec(),
    })
}

fn tensor_values(info: &TensorInfo, t: &Tensor, digest: bool) -> TensorValues {
    let n = t.shape.iter().product::<u64>() as usize;
    TensorValues {
        name: info.name.clone(),
        dtype: info.dtype.name().to_string(),
        shape: info.shape.clone(),
        sha256: digest.then(|| tf_bundle::digest::digest_hex(t)),
        values: (0..n).map(|i| element(t, i)).collect(),
        json_limit: None,
        stats: stats(t),
    }
}

// ------------------------------------------------------------------------------------------
// Elements and statistics (decoded by `tf_bundle::elem`, the one decoder)

impl From<tf_bundle::elem::Summary> for Stats {
    fn from(s: tf_bundle::elem::Summary) -> Stats {
        Stats {
            min: s.min,
            max: s.max,
            mean: s.mean,
            stddev: s.stddev,
            rms: s.rms,
        }
    }
}

/// Element `i` of a tensor (the caller keeps `i` below the element count).
pub fn element(t: &Tensor, i: usize) -> Elem {
    let b = match &t.data {
        TensorData::Strings(s) => return Elem::S(s.get(i).cloned().unwrap_or_default()),
        TensorData::Bytes(b) => b,
    };
    let es = t.dtype.element_size().unwrap_or(1);
    let c = b.get(i * es..(i + 1) * es).unwrap_or(&[]);
    match tf_bundle::elem::value(t.dtype, c) {
        Some(tf_bundle::elem::Value::Float(v)) => Elem::F(v),
        Some(tf_bundle::elem::Value::Int(v)) => match i64::try_from(v) {
            Ok(v) => Elem::I(v),
            Err(_) => Elem::U(u64::try_from(v).unwrap_or(u64::MAX)),
        },
        Some(tf_bundle::elem::Value::Bool(v)) => Elem::B(v),
        Some(tf_bundle::elem::Value::Complex(re, im)) => Elem::C(re, im),
        None => Elem::U(c.first().copied().map_or(0, u64::from)),
    }
}

/// min/max/mean/stddev/rms (numpy semantics: NaN propagates; stddev is the population one).
/// `None` for strings, complex and empty tensors.
pub fn stats(t: &Tensor) -> Option<Stats> {
    let TensorData::Bytes(b) = &t.data else {
        return None;
    };
    tf_bundle::elem::Stats::of_bytes(t.dtype, b)?
        .summary()
        .map(Stats::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_serialize_as_json_numbers() {
        let v = serde_json::to_string(&vec![
            Elem::F(1.0),
            Elem::F(f64::NAN),
            Elem::I(-3),
            Elem::B(true),
            Elem::C(0.5, -0.0),
            Elem::S(b"a\x00".to_vec()),
        ])
        .unwrap();
        assert_eq!(v, r#"[1.0,"nan",-3,true,[0.5,-0.0],"6100"]"#);
    }
}
