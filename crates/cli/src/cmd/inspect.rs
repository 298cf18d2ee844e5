//! `returnn-ckpt inspect`: list a checkpoint's tensors like TF's `inspect_checkpoint`
//! (`name (dtype) [shape]`), with optional stats (like RETURNN's `tf_inspect_checkpoint.py`:
//! min, max, mean, stddev, rms), values, sha256 digests, TF2 object names, or the JSON of the
//! issue's contract.
//!
//! Stats are defined for float16/bfloat16/float32/float64, float8, all integer dtypes and
//! bool (as 0/1), and for quantized dtypes over their raw integer storage; complex and string
//! tensors have none. NaN propagates as in numpy. A tensor that cannot be read is reported
//! (human: `ERROR: ...`; JSON: `"error"`), and the command exits 1 after printing everything.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use serde_json::{json, Value};
use tf_bundle::{Checkpoint, DType, OpenOptions, Tensor, TensorData, TensorInfo};

#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint: a prefix, PREFIX.index/.meta/.data-*, a directory with a `checkpoint` file,
    /// or a V1 file / glob.
    pub path: PathBuf,
    /// Add min/max/mean/stddev/rms per numeric tensor (reads every tensor).
    #[arg(long)]
    pub stats: bool,
    /// Print the values of this tensor (repeatable).
    #[arg(long = "tensor", value_name = "NAME")]
    pub tensors: Vec<String>,
    /// Machine-readable output (the stable JSON contract).
    #[arg(long)]
    pub json: bool,
    /// Add each tensor's sha256 (fixtures' "Digests" definition; reads every tensor).
    #[arg(long)]
    pub digest: bool,
    /// Show TF2 object paths / full names from `_CHECKPOINTABLE_OBJECT_GRAPH`.
    #[arg(long)]
    pub object_names: bool,
    /// Print every element with --tensor (default: summarise tensors over 1000 elements).
    #[arg(long)]
    pub full: bool,
    /// Memory-map the data shards instead of positioned reads (explicit opt-in). Risk: if
    /// another process truncates a shard while it is mapped, this process dies with SIGBUS
    /// instead of reporting an error; use it only on files nothing else is writing.
    #[arg(long)]
    pub mmap: bool,
}

/// Summary statistics of a numeric tensor.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub stddev: f64,
    pub rms: f64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ck = Checkpoint::open_with(
        &args.path,
        &OpenOptions {
            mmap: args.mmap,
            ..OpenOptions::default()
        },
    )
    .with_context(|| format!("cannot open checkpoint {}", args.path.display()))?;
    if !args.tensors.is_empty() {
        return print_values(&ck, &args);
    }
    let objects: HashMap<String, tf_bundle::object_graph::ObjectName> = if args.object_names {
        tf_bundle::object_graph::from_checkpoint(&ck)?
            .unwrap_or_default()
            .into_iter()
            .map(|o| (o.checkpoint_key.clone(), o))
            .collect()
    } else {
        HashMap::new()
    };
    let mut failed = false;
    let mut rows: Vec<Row> = Vec::new();
    for info in ck.tensors() {
        let obj = objects.get(&info.name);
        let mut row = Row {
            name: info.name.clone(),
            dtype: info.dtype.name().to_string(),
            shape: info.shape.clone(),
            sha256: None,
            error: None,
            stats: None,
            object_path: obj.map(|o| o.object_path.clone()),
            full_name: obj.map(|o| o.full_name.clone()),
        };
        if args.stats {
            match ck.read(&info.name) {
                Ok(t) => {
                    if args.digest {
                        row.sha256 = Some(tf_bundle::digest::digest_hex(&t));
                    }
                    row.stats = stats(&t).map(|s| StatsJson {
                        min: num(s.min),
                        max: num(s.max),
                        mean: num(s.mean),
                        stddev: num(s.stddev),
                        rms: num(s.rms),
                    });
                }
                Err(e) => {
                    failed = true;
                    row.error = Some(e.to_string());
                }
            }
        } else if args.digest {
            // Streamed: memory stays bounded for any tensor size.
            match tf_bundle::digest::digest_tensor(&ck, &info.name) {
                Ok(d) => row.sha256 = Some(tf_bundle::digest::hex(&d)),
                Err(e) => {
                    failed = true;
                    row.error = Some(e.to_string());
                }
            }
        }
        rows.push(row);
    }
    for p in ck.problems() {
        failed = true;
        rows.push(Row {
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
    if args.json {
        let out = Listing {
            path: ck.prefix().display().to_string(),
            format: ck.format().to_string(),
            num_shards: ck.num_shards(),
            endianness: ck.endianness().to_string(),
            tensors: rows,
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        let mut s = String::new();
        for r in &rows {
            human_row(&mut s, r);
        }
        print!("{s}");
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The `--json` document (field order as in the issue's contract).
#[derive(Serialize)]
struct Listing {
    path: String,
    format: String,
    num_shards: u32,
    endianness: String,
    tensors: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    name: String,
    dtype: String,
    shape: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<StatsJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_name: Option<String>,
}

#[derive(Serialize)]
struct StatsJson {
    min: Value,
    max: Value,
    mean: Value,
    stddev: Value,
    rms: Value,
}

/// JSON number, or the strings "nan"/"inf"/"-inf" (JSON has no such numbers).
fn num(v: f64) -> Value {
    if v.is_nan() {
        json!("nan")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(v)
    }
}

fn shape_text(shape: &[u64]) -> String {
    format!(
        "[{}]",
        shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

fn human_row(s: &mut String, r: &Row) {
    let _ = write!(s, "{} ({}) {}", r.name, r.dtype, shape_text(&r.shape));
    if let Some(p) = &r.object_path {
        let _ = write!(s, " object={p}");
        if let Some(f) = r.full_name.as_deref().filter(|f| !f.is_empty()) {
            let _ = write!(s, " full_name={f}");
        }
    }
    if let Some(st) = &r.stats {
        for (k, v) in [
            ("min", &st.min),
            ("max", &st.max),
            ("mean", &st.mean),
            ("stddev", &st.stddev),
            ("rms", &st.rms),
        ] {
            let _ = write!(s, " {k}={}", fmt_stat(v));
        }
    }
    if let Some(d) = &r.sha256 {
        let _ = write!(s, " sha256={d}");
    }
    if let Some(e) = &r.error {
        let _ = write!(s, " ERROR: {e}");
    }
    s.push('\n');
}

fn fmt_stat(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), fmt_g),
        other => other.to_string(),
    }
}

/// Six significant digits, like C's `%g`.
fn fmt_g(f: f64) -> String {
    if f == 0.0 || (1e-4..1e6).contains(&f.abs()) {
        let digits = if f == 0.0 {
            0
        } else {
            (5 - f.abs().log10().floor() as i32).max(0) as usize
        };
        let s = format!("{f:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{f:.5e}")
    }
}

fn print_values(ck: &Checkpoint, args: &Args) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut json_out = Vec::new();
    for name in &args.tensors {
        let Some(info) = ck.get(name) else {
            failed = true;
            let e = ck
                .read(name)
                .err()
                .map_or_else(|| "key not found".to_string(), |e| e.to_string());
            if args.json {
                json_out.push(error_json(name, &e));
            } else {
                eprintln!("returnn-ckpt: error: {e}");
            }
            continue;
        };
        match ck.read(name) {
            Ok(t) => {
                if args.json {
                    json_out.push(tensor_json(info, &t, args.digest));
                } else {
                    let mut s = format!("tensor_name:  {name}\n");
                    let _ = writeln!(s, "dtype: {}  shape: {}", t.dtype, shape_text(&t.shape));
                    s.push_str(&format_values(&t, !args.full));
                    s.push('\n');
                    if let Some(st) = stats(&t) {
                        let _ = writeln!(s, "mean: {}", st.mean);
                        let _ = writeln!(s, "stddev: {}", st.stddev);
                        let _ = writeln!(s, "rms: {}", st.rms);
                        let _ = writeln!(s, "min: {}", st.min);
                        let _ = writeln!(s, "max: {}", st.max);
                    }
                    if args.digest {
                        let _ = writeln!(s, "sha256: {}", tf_bundle::digest::digest_hex(&t));
                    }
                    print!("{s}");
                }
            }
            Err(e) => {
                failed = true;
                if args.json {
                    json_out.push(error_json(name, &e.to_string()));
                } else {
                    eprintln!("returnn-ckpt: error: {e}");
                }
            }
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&ValuesDoc {
                path: ck.prefix().display().to_string(),
                tensors: json_out,
            })?
        );
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn tensor_json(info: &TensorInfo, t: &Tensor, digest: bool) -> ValuesEntry {
    let n = t.shape.iter().product::<u64>() as usize;
    let values: Vec<Value> = (0..n)
        .map(|i| match element(t, i) {
            Elem::F(v) => json!(float_repr(v)),
            Elem::I(v) => json!(v),
            Elem::U(v) => json!(v),
            Elem::B(v) => json!(v),
            Elem::C(re, im) => json!([float_repr(re), float_repr(im)]),
            Elem::S(s) => json!(hex::encode(s)),
        })
        .collect();
    let v = ValuesJson {
        name: info.name.clone(),
        dtype: info.dtype.name().to_string(),
        shape: info.shape.clone(),
        sha256: digest.then(|| tf_bundle::digest::digest_hex(t)),
        values,
    };
    ValuesEntry::Values(v)
}

#[derive(Serialize)]
#[serde(untagged)]
enum ValuesEntry {
    Values(ValuesJson),
    Error { name: String, error: String },
}

/// One tensor of `--tensor NAME --json`: values flattened in C order, encoded like the
/// fixtures' manifests (floats as exact shortest-repr strings of the value as a double,
/// "nan"/"inf"/"-inf"; complex as [re, im] pairs of such strings; integers as numbers; bool as
/// true/false; strings as lowercase hex).
#[derive(Serialize)]
struct ValuesJson {
    name: String,
    dtype: String,
    shape: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    values: Vec<Value>,
}

#[derive(Serialize)]
struct ValuesDoc {
    path: String,
    tensors: Vec<ValuesEntry>,
}

/// The shortest string that parses back to exactly `v` (`1.0`, `-0.0`, `1e-7`, `nan`).
fn float_repr(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{v:?}")
    }
}

fn error_json(name: &str, error: &str) -> ValuesEntry {
    ValuesEntry::Error {
        name: name.to_string(),
        error: error.to_string(),
    }
}

enum Elem<'a> {
    F(f64),
    I(i64),
    U(u64),
    B(bool),
    C(f64, f64),
    S(&'a [u8]),
}

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

/// Element `i` of a tensor (caller keeps `i` below the element count).
fn element(t: &Tensor, i: usize) -> Elem<'_> {
    let b = match &t.data {
        TensorData::Strings(s) => return Elem::S(&s[i]),
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

fn fmt_elem(e: Elem<'_>) -> String {
    match e {
        Elem::F(v) => fmt_float(v),
        Elem::I(v) => v.to_string(),
        Elem::U(v) => v.to_string(),
        Elem::B(v) => if v { "True" } else { "False" }.to_string(),
        Elem::C(re, im) => format!(
            "{}{}{}j",
            fmt_float(re),
            if im < 0.0 || (im == 0.0 && im.is_sign_negative()) {
                ""
            } else {
                "+"
            },
            fmt_float(im)
        ),
        Elem::S(s) => bytes_repr(s),
    }
}

fn fmt_float(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Python-like `b'...'` repr of a byte string.
fn bytes_repr(s: &[u8]) -> String {
    let mut out = String::from("b'");
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(c as char),
            _ => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push('\'');
    out
}

/// Nested-bracket, row-major rendering; with `summarise`, tensors over 1000 elements show
/// the first and last 3 entries of each dimension (like numpy).
pub fn format_values(t: &Tensor, summarise: bool) -> String {
    let n: u64 = t.shape.iter().product();
    let summarise = summarise && n > 1000;
    let mut out = String::new();
    if t.shape.is_empty() {
        out.push_str(&fmt_elem(element(t, 0)));
        return out;
    }
    let mut strides = vec![1usize; t.shape.len()];
    for d in (0..t.shape.len() - 1).rev() {
        strides[d] = strides[d + 1] * t.shape[d + 1] as usize;
    }
    render(t, &strides, 0, 0, summarise, &mut out);
    out
}

fn render(
    t: &Tensor,
    strides: &[usize],
    dim: usize,
    base: usize,
    summarise: bool,
    out: &mut String,
) {
    let len = t.shape[dim] as usize;
    out.push('[');
    let idx: Vec<Option<usize>> = if summarise && len > 6 {
        (0..3)
            .map(Some)
            .chain([None])
            .chain((len - 3..len).map(Some))
            .collect()
    } else {
        (0..len).map(Some).collect()
    };
    for (k, i) in idx.iter().enumerate() {
        if k > 0 {
            out.push(if dim + 1 == t.shape.len() { ' ' } else { '\n' });
            if dim + 1 < t.shape.len() {
                out.push_str(&" ".repeat(dim + 1));
            }
        }
        match i {
            None => out.push_str("..."),
            Some(i) => {
                let off = base + i * strides[dim];
                if dim + 1 == t.shape.len() {
                    out.push_str(&fmt_elem(element(t, off)));
                } else {
                    render(t, strides, dim + 1, off, summarise, out);
                }
            }
        }
    }
    out.push(']');
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
    fn stat_numbers() {
        assert_eq!(fmt_g(0.020937028), "0.020937");
        assert_eq!(fmt_g(-0.507483), "-0.507483");
        assert_eq!(fmt_g(21.0), "21");
        assert_eq!(fmt_g(0.0), "0");
        assert_eq!(fmt_g(123456.7), "123457");
        assert_eq!(fmt_g(3.4e38), "3.40000e38");
    }

    #[test]
    fn values_render() {
        let t = f32_tensor(vec![2, 3], &[1.0, 2.0, 3.0, 4.0, 5.5, -6.0]);
        assert_eq!(format_values(&t, true), "[[1 2 3]\n [4 5.5 -6]]");
        let s = Tensor {
            dtype: DType::String,
            shape: vec![],
            data: TensorData::Strings(vec![b"a'\x00".to_vec()]),
        };
        assert_eq!(format_values(&s, true), "b'a\\'\\x00'");
        let big = f32_tensor(vec![2000], &vec![0.0; 2000]);
        assert_eq!(format_values(&big, true), "[0 0 0 ... 0 0 0]");
    }
}
