//! `inspect`: a checkpoint's tensors like TF's `inspect_checkpoint` (name, dtype, shape), with
//! optional statistics (like RETURNN's `tf_inspect_checkpoint.py`: min, max, mean, stddev,
//! rms), sha256 digests, TF2 object names, or the values of chosen tensors.
//!
//! Stats are defined for float16/bfloat16/float32/float64, float8, all integer dtypes and
//! bool (as 0/1), and for quantized dtypes over their raw integer storage; complex and string
//! tensors have none. NaN propagates as in numpy. A tensor that cannot be read is reported in
//! its row (`error`), and [`InspectReport::failed`] says so.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Serialize, Serializer};
use tf_bundle::{Checkpoint, DType, OpenOptions, Tensor, TensorData, TensorInfo};

use crate::error::{Error, Result};

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

/// The listing. JSON (stable): `{"path", "format", "num_shards", "endianness", "tensors":
/// [..]}`, tensors sorted by name.
#[derive(Clone, Debug, Serialize)]
pub struct InspectReport {
    pub path: String,
    pub format: String,
    pub num_shards: u32,
    pub endianness: String,
    pub tensors: Vec<TensorRow>,
}

impl InspectReport {
    /// Whether any tensor could not be read or described.
    pub fn failed(&self) -> bool {
        self.tensors.iter().any(|t| t.error.is_some())
    }
}

/// Opens a checkpoint for a job (errors read `cannot open checkpoint PATH: ...`).
pub(crate) fn open(path: &std::path::Path, mmap: bool) -> Result<Checkpoint> {
    Checkpoint::open_with(
        path,
        &OpenOptions {
            mmap,
            ..OpenOptions::default()
        },
    )
    .map_err(|e| {
        let msg = format!("cannot open checkpoint {}: {e}", path.display());
        Error::from(e).map_message(|_| msg)
    })
}

/// Lists the checkpoint.
pub fn run(req: &InspectRequest) -> Result<InspectReport> {
    let ck = open(&req.path, req.mmap)?;
    let objects: HashMap<String, tf_bundle::object_graph::ObjectName> = if req.object_names {
        tf_bundle::object_graph::from_checkpoint(&ck)
            .map_err(|e| {
                let msg = format!("{e}");
                Error::from(e).map_message(|_| msg)
            })?
            .unwrap_or_default()
            .into_iter()
            .map(|o| (o.checkpoint_key.clone(), o))
            .collect()
    } else {
        HashMap::new()
    };
    let mut rows: Vec<TensorRow> = Vec::new();
    for info in ck.tensors() {
        let obj = objects.get(&info.name);
        let mut row = TensorRow {
            name: info.name.clone(),
            dtype: info.dtype.name().to_string(),
            shape: info.shape.clone(),
            sha256: None,
            error: None,
            stats: None,
            object_path: obj.map(|o| o.object_path.clone()),
            full_name: obj.map(|o| o.full_name.clone()),
        };
        if req.stats {
            match ck.read(&info.name) {
                Ok(t) => {
                    if req.digest {
                        row.sha256 = Some(tf_bundle::digest::digest_hex(&t));
                    }
                    row.stats = stats(&t).map(StatsJson::from);
                }
                Err(e) => row.error = Some(e.to_string()),
            }
        } else if req.digest {
            // Streamed: memory stays bounded for any tensor size.
            match tf_bundle::digest::digest_tensor(&ck, &info.name) {
                Ok(d) => row.sha256 = Some(tf_bundle::digest::hex(&d)),
                Err(e) => row.error = Some(e.to_string()),
            }
        }
        rows.push(row);
    }
    for p in ck.problems() {
        rows.push(TensorRow {
            name: p.name.clone(),
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
        path: ck.prefix().display().to_string(),
        format: ck.format().to_string(),
        num_shards: ck.num_shards(),
        endianness: ck.endianness().to_string(),
        tensors: rows,
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
    /// Encoded like the fixtures' manifests: floats as exact shortest-repr strings of the value
    /// as a double ("nan"/"inf"/"-inf"); complex as [re, im] pairs of such strings; integers
    /// as numbers; bool as true/false; strings as lowercase hex.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            Elem::F(v) => s.serialize_str(&float_repr(*v)),
            Elem::I(v) => s.serialize_i64(*v),
            Elem::U(v) => s.serialize_u64(*v),
            Elem::B(v) => s.serialize_bool(*v),
            Elem::C(re, im) => {
                let mut seq = s.serialize_seq(Some(2))?;
                seq.serialize_element(&float_repr(*re))?;
                seq.serialize_element(&float_repr(*im))?;
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

/// The values of one tensor, flattened in C order.
#[derive(Clone, Debug, Serialize)]
pub struct TensorValues {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub values: Vec<Elem>,
    /// Statistics (for faces that show them; not in the JSON contract).
    #[serde(skip)]
    pub stats: Option<Stats>,
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
    let ck = open(&req.path, req.mmap)?;
    let mut out = Vec::new();
    for name in &req.tensors {
        let entry = match (ck.get(name), ck.read(name)) {
            (Some(info), Ok(t)) => ValuesEntry::Values(tensor_values(info, &t, req.digest)),
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
        path: ck.prefix().display().to_string(),
        tensors: out,
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
        stats: stats(t),
    }
}

// ------------------------------------------------------------------------------------------
// Element decoding and statistics

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let man = f64::from(h & 0x3ff);
    match exp {
        0 => sign * man * 2f64.powi(-24),
        31 if man == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + man / 1024.0) * 2f64.powi(e - 15),
    }
}

fn f8_e4m3fn_to_f64(b: u8) -> f64 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((b >> 3) & 0xf);
    let man = f64::from(b & 7);
    if exp == 0xf && b & 7 == 7 {
        f64::NAN
    } else if exp == 0 {
        sign * man / 8.0 * 2f64.powi(-6)
    } else {
        sign * (1.0 + man / 8.0) * 2f64.powi(exp - 7)
    }
}

fn le<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

/// Element `i` of a tensor (the caller keeps `i` below the element count).
pub fn element(t: &Tensor, i: usize) -> Elem {
    let b = match &t.data {
        TensorData::Strings(s) => return Elem::S(s[i].clone()),
        TensorData::Bytes(b) => b,
    };
    let es = t.dtype.element_size().unwrap_or(1);
    let c = &b[i * es..(i + 1) * es];
    use DType::*;
    match t.dtype {
        Float32 => Elem::F(f64::from(f32::from_le_bytes(le(c)))),
        Float64 => Elem::F(f64::from_le_bytes(le(c))),
        Float16 => Elem::F(f16_to_f64(u16::from_le_bytes(le(c)))),
        BFloat16 => Elem::F(f64::from(f32::from_bits(
            u32::from(u16::from_le_bytes(le(c))) << 16,
        ))),
        Float8E4M3FN => Elem::F(f8_e4m3fn_to_f64(c[0])),
        Float8E5M2 => Elem::F(f16_to_f64(u16::from(c[0]) << 8)),
        Bool => Elem::B(c[0] != 0),
        Complex64 => Elem::C(
            f64::from(f32::from_le_bytes(le(c))),
            f64::from(f32::from_le_bytes(le(&c[4..]))),
        ),
        Complex128 => Elem::C(f64::from_le_bytes(le(c)), f64::from_le_bytes(le(&c[8..]))),
        Int8 | QInt8 => Elem::I(i64::from(c[0] as i8)),
        Int16 | QInt16 => Elem::I(i64::from(i16::from_le_bytes(le(c)))),
        Int32 | QInt32 => Elem::I(i64::from(i32::from_le_bytes(le(c)))),
        Int64 => Elem::I(i64::from_le_bytes(le(c))),
        UInt16 | QUInt16 => Elem::U(u64::from(u16::from_le_bytes(le(c)))),
        UInt32 => Elem::U(u64::from(u32::from_le_bytes(le(c)))),
        UInt64 => Elem::U(u64::from_le_bytes(le(c))),
        // int4/int2 are stored unpacked in the low bits: sign-extend.
        Int4 => Elem::I(i64::from(((c[0] << 4) as i8) >> 4)),
        Int2 => Elem::I(i64::from(((c[0] << 6) as i8) >> 6)),
        // uint8, quint8, uint4, uint2, and 8-bit float formats without a decoder here: raw.
        _ => Elem::U(u64::from(c[0])),
    }
}

/// min/max/mean/stddev/rms (numpy semantics: NaN propagates; stddev is the population one).
/// `None` for strings, complex, raw 8-bit formats without a decoder, and empty tensors.
pub fn stats(t: &Tensor) -> Option<Stats> {
    use DType::*;
    if matches!(
        t.dtype,
        String
            | Complex64
            | Complex128
            | Float8E4M3FNUZ
            | Float8E4M3B11FNUZ
            | Float8E5M2FNUZ
            | Float4E2M1FN
    ) {
        return None;
    }
    let n = usize::try_from(t.shape.iter().product::<u64>()).ok()?;
    if n == 0 {
        return None;
    }
    // Chunked, with the dtype dispatch outside the inner loops (tensors can be large).
    const CHUNK: usize = 1 << 16;
    let mut buf = Vec::with_capacity(CHUNK.min(n));
    let (mut min, mut max, mut sum, mut sumsq) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0);
    let mut nan = false;
    let mut at = 0;
    while at < n {
        let end = (at + CHUNK).min(n);
        decode_chunk(t, at, end, &mut buf);
        for &v in &buf {
            nan |= v.is_nan();
            min = min.min(v);
            max = max.max(v);
            sum += v;
            sumsq += v * v;
        }
        at = end;
    }
    if nan {
        return Some(Stats {
            min: f64::NAN,
            max: f64::NAN,
            mean: f64::NAN,
            stddev: f64::NAN,
            rms: f64::NAN,
        });
    }
    let mean = sum / n as f64;
    let mut var = 0.0;
    let mut at = 0;
    while at < n {
        let end = (at + CHUNK).min(n);
        decode_chunk(t, at, end, &mut buf);
        for &v in &buf {
            let d = v - mean;
            var += d * d;
        }
        at = end;
    }
    Some(Stats {
        min,
        max,
        mean,
        stddev: (var / n as f64).sqrt(),
        rms: (sumsq / n as f64).sqrt(),
    })
}

/// Elements `start..end` of a numeric tensor as f64 into `out`.
fn decode_chunk(t: &Tensor, start: usize, end: usize, out: &mut Vec<f64>) {
    out.clear();
    let TensorData::Bytes(b) = &t.data else {
        return;
    };
    let es = t.dtype.element_size().unwrap_or(1);
    let bytes = &b[start * es..end * es];
    match t.dtype {
        DType::Float32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        ),
        DType::Float64 => out.extend(bytes.chunks_exact(8).map(|c| f64::from_le_bytes(le(c)))),
        _ => out.extend((start..end).map(|i| match element(t, i) {
            Elem::F(v) => v,
            Elem::I(v) => v as f64,
            Elem::U(v) => v as f64,
            Elem::B(v) => f64::from(u8::from(v)),
            Elem::C(..) | Elem::S(_) => f64::NAN,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_tensor(shape: Vec<u64>, v: &[f32]) -> Tensor {
        Tensor {
            dtype: DType::Float32,
            shape,
            data: TensorData::Bytes(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        }
    }

    #[test]
    fn stats_match_numpy() {
        // numpy: mean 2.5, std 1.118033988749895, rms 2.7386127875258306
        let s = stats(&f32_tensor(vec![2, 2], &[1.0, 2.0, 3.0, 4.0])).unwrap();
        assert_eq!((s.min, s.max, s.mean), (1.0, 4.0, 2.5));
        assert!((s.stddev - 1.118_033_988_749_895).abs() < 1e-12);
        assert!((s.rms - 2.738_612_787_525_830_6).abs() < 1e-12);
        let s = stats(&f32_tensor(vec![2], &[1.0, f32::NAN])).unwrap();
        assert!(s.min.is_nan() && s.mean.is_nan());
        assert!(stats(&f32_tensor(vec![0], &[])).is_none());
        // float16 [1, -2] = 003c 00c0; bfloat16 [1, -2] = 803f 00c0.
        for (dtype, bytes) in [
            (DType::Float16, vec![0x00, 0x3c, 0x00, 0xc0]),
            (DType::BFloat16, vec![0x80, 0x3f, 0x00, 0xc0]),
        ] {
            let t = Tensor {
                dtype,
                shape: vec![2],
                data: TensorData::Bytes(bytes),
            };
            let s = stats(&t).unwrap();
            assert_eq!((s.min, s.max, s.mean), (-2.0, 1.0, -0.5), "{dtype}");
        }
    }

    #[test]
    fn elements_serialize_like_the_manifests() {
        let v = serde_json::to_string(&vec![
            Elem::F(1.0),
            Elem::F(f64::NAN),
            Elem::I(-3),
            Elem::B(true),
            Elem::C(0.5, -0.0),
            Elem::S(b"a\x00".to_vec()),
        ])
        .unwrap();
        assert_eq!(v, r#"["1.0","nan",-3,true,["0.5","-0.0"],"6100"]"#);
    }
}
