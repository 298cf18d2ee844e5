//! `returnn-ckpt inspect`: list the tensors of a checkpoint, a `.pt` or a `.safetensors` file
//! like TF's `inspect_checkpoint`
//! (`name (dtype) [shape]`), with optional stats (min, max, mean, stddev, rms), values, sha256
//! digests, TF2 object names, or the JSON of the stable contract (`engine::inspect`).
//!
//! A tensor that cannot be read is reported (human: `ERROR: ...`; JSON: `"error"`), and the
//! command exits 1 after printing everything.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use engine::inspect::{
    Elem, InspectRequest, JsonFloat, TensorRow, TensorValues, ValuesEntry, ValuesRequest,
};

use crate::out::{fail, print_json, print_notes, print_out, Fail, NEGATIVE};
use crate::progress::Bar;

#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint: a prefix, PREFIX.index/.meta/.data-*, a directory with a `checkpoint` file,
    /// a V1 file / glob, a PyTorch `.pt` file (its state dict; RETURNN's scalar entries under
    /// "metadata") or a `.safetensors` file.
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
    /// Show every element with --tensor (default: the numpy-like summary of tensors over 1000
    /// elements, and the first 1000 in JSON).
    #[arg(long, alias = "full")]
    pub all: bool,
    /// Memory-map the data shards instead of positioned reads (explicit opt-in). Risk: if
    /// another process truncates a shard while it is mapped, this process dies with SIGBUS
    /// instead of reporting an error; use it only on files nothing else is writing.
    #[arg(long)]
    pub mmap: bool,
}

pub fn run(args: Args, quiet: bool) -> Result<ExitCode, Fail> {
    if !args.tensors.is_empty() {
        return print_values(&args);
    }
    let bar = Bar::new(quiet);
    let report = engine::inspect::run(
        &InspectRequest {
            path: args.path.clone(),
            stats: args.stats,
            digest: args.digest,
            object_names: args.object_names,
            mmap: args.mmap,
        },
        &bar,
    )
    .map_err(fail(args.json))?;
    if args.json {
        print_json(&report);
    } else {
        print_notes(&report.notes, false);
        let mut s = String::new();
        if let Some(m) = &report.metadata {
            let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            let _ = writeln!(
                s,
                "# epoch {}, step {}, effective_learning_rate {}, returnn_version {}",
                opt(m.epoch.map(|e| e.to_string())),
                opt(m.step.map(|e| e.to_string())),
                opt(m
                    .effective_learning_rate
                    .map(|v| engine::py_float_repr(v.0))),
                opt(m.returnn_version.clone())
            );
        }
        for r in &report.tensors {
            human_row(&mut s, r);
        }
        print_out(&s);
    }
    Ok(if report.failed() {
        ExitCode::from(NEGATIVE)
    } else {
        ExitCode::SUCCESS
    })
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

fn human_row(s: &mut String, r: &TensorRow) {
    let _ = write!(s, "{} ({}) {}", r.name, r.dtype, shape_text(&r.shape));
    if let Some(p) = &r.object_path {
        let _ = write!(s, " object={p}");
        if let Some(f) = r.full_name.as_deref().filter(|f| !f.is_empty()) {
            let _ = write!(s, " full_name={f}");
        }
    }
    if let Some(st) = &r.stats {
        for (k, v) in [
            ("min", st.min),
            ("max", st.max),
            ("mean", st.mean),
            ("stddev", st.stddev),
            ("rms", st.rms),
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

fn fmt_stat(v: JsonFloat) -> String {
    let f = v.0;
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        fmt_g(f)
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

fn print_values(args: &Args) -> Result<ExitCode, Fail> {
    let report = engine::inspect::values(&ValuesRequest {
        path: args.path.clone(),
        tensors: args.tensors.clone(),
        digest: args.digest,
        mmap: args.mmap,
        all: args.all,
    })
    .map_err(fail(args.json))?;
    if args.json {
        print_json(&report);
    } else {
        print_notes(&report.notes, false);
        for entry in &report.tensors {
            match entry {
                ValuesEntry::Values(t) => print_out(&human_values(t, !args.all)),
                ValuesEntry::Error { error, .. } => eprintln!("error: {error}"),
            }
        }
    }
    Ok(if report.failed() {
        ExitCode::from(NEGATIVE)
    } else {
        ExitCode::SUCCESS
    })
}

fn human_values(t: &TensorValues, summarise: bool) -> String {
    let mut s = format!("tensor_name:  {}\n", t.name);
    let _ = writeln!(s, "dtype: {}  shape: {}", t.dtype, shape_text(&t.shape));
    s.push_str(&format_values(&t.shape, &t.values, summarise));
    s.push('\n');
    if let Some(st) = t.stats {
        let _ = writeln!(s, "mean: {}", st.mean);
        let _ = writeln!(s, "stddev: {}", st.stddev);
        let _ = writeln!(s, "rms: {}", st.rms);
        let _ = writeln!(s, "min: {}", st.min);
        let _ = writeln!(s, "max: {}", st.max);
    }
    if let Some(d) = &t.sha256 {
        let _ = writeln!(s, "sha256: {d}");
    }
    s
}

fn fmt_elem(e: &Elem) -> String {
    match e {
        Elem::F(v) => fmt_float(*v),
        Elem::I(v) => v.to_string(),
        Elem::U(v) => v.to_string(),
        Elem::B(v) => if *v { "True" } else { "False" }.to_string(),
        Elem::C(re, im) => format!(
            "{}{}{}j",
            fmt_float(*re),
            if *im < 0.0 || (*im == 0.0 && im.is_sign_negative()) {
                ""
            } else {
                "+"
            },
            fmt_float(*im)
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
pub fn format_values(shape: &[u64], values: &[Elem], summarise: bool) -> String {
    let n: u64 = shape.iter().product();
    let summarise = summarise && n > 1000;
    let mut out = String::new();
    if shape.is_empty() {
        if let Some(v) = values.first() {
            out.push_str(&fmt_elem(v));
        }
        return out;
    }
    let mut strides = vec![1usize; shape.len()];
    for d in (0..shape.len() - 1).rev() {
        strides[d] = strides[d + 1] * shape[d + 1] as usize;
    }
    render(shape, values, &strides, 0, 0, summarise, &mut out);
    out
}

fn render(
    shape: &[u64],
    values: &[Elem],
    strides: &[usize],
    dim: usize,
    base: usize,
    summarise: bool,
    out: &mut String,
) {
    let len = shape[dim] as usize;
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
            out.push(if dim + 1 == shape.len() { ' ' } else { '\n' });
            if dim + 1 < shape.len() {
                out.push_str(&" ".repeat(dim + 1));
            }
        }
        match i {
            None => out.push_str("..."),
            Some(i) => {
                let off = base + i * strides[dim];
                if dim + 1 == shape.len() {
                    if let Some(v) = values.get(off) {
                        out.push_str(&fmt_elem(v));
                    }
                } else {
                    render(shape, values, strides, dim + 1, off, summarise, out);
                }
            }
        }
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(v: &[f64]) -> Vec<Elem> {
        v.iter().map(|x| Elem::F(*x)).collect()
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
        let t = floats(&[1.0, 2.0, 3.0, 4.0, 5.5, -6.0]);
        assert_eq!(format_values(&[2, 3], &t, true), "[[1 2 3]\n [4 5.5 -6]]");
        let s = vec![Elem::S(b"a'\x00".to_vec())];
        assert_eq!(format_values(&[], &s, true), "b'a\\'\\x00'");
        let big = floats(&[0.0; 2000]);
        assert_eq!(format_values(&[2000], &big, true), "[0 0 0 ... 0 0 0]");
    }
}
