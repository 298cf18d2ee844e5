//! `cargo xtask pt-oracle [--cases N] [--seed S] [--keep]`: differential oracle of the
//! `torch-pt` crate against real torch (2.15, CPU) in the pinned venv.
//!
//! * torch writes: `tools/pt-oracle/pt_oracle.py torch-writes` saves N random checkpoints with
//!   `torch.save` (every dtype, views/slices/transposes/expands, tied storages, Parameters,
//!   RETURNN model/optimizer dicts, nn.Module state dicts with `_metadata`, plain values; some
//!   re-packed by Python's `zipfile` with ZIP64 records and another root folder; a few that
//!   torch refuses) and renders what `torch.load(f, weights_only=True)` returns. We read each
//!   file (positioned reads and memory map) and render our value tree the same way: equal,
//!   bit for bit (sha256 of every tensor), storage sharing included; files torch refuses we
//!   must refuse.
//! * we write: N random files from `StateDictWriter` (RETURNN and flat layouts) and
//!   `PtWriter` (nested trees with views, tied storages, parameters, `_metadata`, plain values;
//!   some with ZIP64 records); `pt_oracle.py torch-reads` renders `torch.load(weights_only=True)`
//!   and `torch.load(weights_only=True, mmap=True)` of each; both must equal our own rendering,
//!   and every contiguous whole-storage tensor must hash to the bytes we gave the writer.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value as J};
use sha2::{Digest, Sha256};
use torch_pt::{
    DType, Dict, DictKind, Layout, NamedTensor, OpenOptions, PtFile, PtWriter, ReturnnMeta,
    StateDictWriter, StorageRef, TensorInfo, Value, WriteOptions,
};

struct Opts {
    cases: u32,
    seed: u64,
    keep: bool,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        cases: 100,
        seed: 1,
        keep: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cases" => o.cases = it.next().context("--cases needs N")?.parse()?,
            "--seed" => o.seed = it.next().context("--seed needs S")?.parse()?,
            "--keep" => o.keep = true,
            other => {
                bail!("unknown argument {other:?} (pt-oracle [--cases N] [--seed S] [--keep])")
            }
        }
    }
    Ok(o)
}

/// SplitMix64: a small deterministic generator (no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

fn fbits(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

/// Renders our value tree exactly as `pt_oracle.py`'s `render` renders torch's.
struct Renderer<'a> {
    file: &'a PtFile,
    groups: HashMap<String, usize>,
    path: Vec<String>,
}

impl Renderer<'_> {
    fn render(&mut self, v: &Value) -> Result<J> {
        Ok(match v {
            Value::None => J::Null,
            Value::Bool(b) => json!({"bool": b}),
            Value::Int(i) => json!({"int": i.to_string()}),
            Value::BigInt(b) => json!({"int": bigint_decimal(b)}),
            Value::Float(x) => json!({"float": fbits(*x)}),
            Value::Complex(a, b) => json!({"complex": [fbits(*a), fbits(*b)]}),
            Value::Str(s) => json!({"str": s}),
            Value::Bytes(b) => json!({"bytes": hex::encode(b)}),
            Value::Tuple(items) => json!({"tuple": self.list(items)?}),
            Value::List(items) => json!({"list": self.list(items)?}),
            Value::Set(items) => {
                let mut v: Vec<String> = self.list(items)?.iter().map(canonical).collect();
                v.sort();
                json!({ "set": v })
            }
            Value::Dict(d) => {
                let kind = match d.kind {
                    DictKind::Dict => "dict",
                    DictKind::OrderedDict => "OrderedDict",
                    DictKind::Counter => "Counter",
                };
                let mut items = Vec::new();
                for (k, x) in &d.items {
                    self.path.push(torch_pt::value::repr(k));
                    items.push(json!([self.render(k)?, self.render(x)?]));
                    self.path.pop();
                }
                let mut attrs = Vec::new();
                for (k, x) in &d.attrs {
                    let name = k.as_str().unwrap_or_default().to_string();
                    attrs.push(json!([name, self.render(x)?]));
                }
                json!({"dict": kind, "items": items, "attrs": attrs})
            }
            Value::Tensor(t) => {
                let nt = NamedTensor {
                    name: self.path.join("."),
                    path: Default::default(),
                    info: (**t).clone(),
                };
                let digest = self.file.digest(&nt)?;
                let group = if t.storage.numel == 0 {
                    J::Null
                } else {
                    let n = self.groups.len();
                    json!(*self.groups.entry(t.storage.key.clone()).or_insert(n))
                };
                json!({"tensor": {"dtype": t.dtype.name(), "shape": t.shape,
                    "sha256": hex::encode(digest), "requires_grad": t.requires_grad,
                    "parameter": t.parameter, "group": group}})
            }
            Value::Dtype(s) => json!({ "dtype": s }),
            Value::Device(s) => json!({ "device": s }),
            Value::Global(g) => bail!("a global {g} as a value cannot be rendered"),
        })
    }

    fn list(&mut self, items: &[Value]) -> Result<Vec<J>> {
        items.iter().map(|x| self.render(x)).collect()
    }
}

/// `json.dumps(x, sort_keys=True)` with Python's default separators.
fn canonical(v: &J) -> String {
    match v {
        J::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}: {}", py_str(k), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        J::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(", ")
        ),
        J::String(s) => py_str(s),
        other => other.to_string(),
    }
}

/// A JSON string as Python's `json.dumps` writes it (ASCII only, `\uXXXX` escapes).
fn py_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Decimal string of a little-endian two's complement integer.
fn bigint_decimal(b: &[u8]) -> String {
    let neg = b.last().is_some_and(|x| x & 0x80 != 0);
    // magnitude as little-endian bytes
    let mut mag: Vec<u8> = if neg {
        let mut v: Vec<u8> = b.iter().map(|x| !x).collect();
        for x in v.iter_mut() {
            let (s, c) = x.overflowing_add(1);
            *x = s;
            if !c {
                break;
            }
        }
        v
    } else {
        b.to_vec()
    };
    let mut digits = Vec::new();
    while mag.iter().any(|&x| x != 0) {
        let mut rem = 0u32;
        for x in mag.iter_mut().rev() {
            let cur = (rem << 8) | u32::from(*x);
            *x = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    if neg {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

fn render_file(f: &PtFile) -> Result<J> {
    let mut r = Renderer {
        file: f,
        groups: HashMap::new(),
        path: Vec::new(),
    };
    r.render(f.root())
}

fn read_json(p: &Path) -> Result<J> {
    let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
    Ok(serde_json::from_str(&text)?)
}

/// First difference between two renderings, as a path.
fn first_diff(a: &J, b: &J, at: &str) -> Option<String> {
    match (a, b) {
        (J::Object(x), J::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (p, q) = (x.get(k).unwrap_or(&J::Null), y.get(k).unwrap_or(&J::Null));
                if let Some(d) = first_diff(p, q, &format!("{at}.{k}")) {
                    return Some(d);
                }
            }
            None
        }
        (J::Array(x), J::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_diff(p, q, &format!("{at}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!(
            "{at}: torch {}, ours {}",
            truncate(&a.to_string()),
            truncate(&b.to_string())
        )),
    }
}

fn truncate(s: &str) -> String {
    if s.len() > 200 {
        format!("{}...", &s[..200])
    } else {
        s.to_string()
    }
}

// ------------------------------------------------------------------------------------------
// Random files from our writer

fn random_bytes(rng: &mut Rng, dtype: DType, numel: u64) -> Vec<u8> {
    let n = (numel * dtype.size()) as usize;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(n);
    if dtype == DType::Bool {
        for b in v.iter_mut() {
            *b &= 1;
        }
    }
    v
}

fn random_shape(rng: &mut Rng) -> Vec<u64> {
    let rank = rng.below(4);
    (0..rank)
        .map(|_| {
            if rng.chance(0.12) {
                0
            } else {
                1 + rng.below(5)
            }
        })
        .collect()
}

fn random_dtype(rng: &mut Rng) -> DType {
    DType::ALL[rng.below(DType::ALL.len() as u64) as usize]
}

/// Views of a storage of `numel` elements holding a tensor of `shape`.
fn views(rng: &mut Rng, s: &StorageRef, shape: &[u64]) -> Vec<TensorInfo> {
    let base = TensorInfo::contiguous(s.clone(), shape.to_vec());
    let mut out = vec![base.clone()];
    if shape.len() == 2 {
        let mut t = base.clone();
        t.shape.swap(0, 1);
        t.stride.swap(0, 1);
        out.push(t);
    }
    if !shape.is_empty() && shape[0] > 1 {
        let a = 1 + rng.below(shape[0] - 1);
        let mut t = base.clone();
        t.shape[0] -= a;
        t.storage_offset = a * base.stride[0];
        out.push(t);
        let mut t = base.clone();
        t.shape[0] = shape[0].div_ceil(2);
        t.stride[0] *= 2;
        out.push(t);
    }
    if s.numel > 0 {
        // an expanded (stride 0) view and a scalar at an offset
        let mut t = base.clone();
        t.shape = vec![3, 2];
        t.stride = vec![0, 0];
        t.storage_offset = rng.below(s.numel);
        out.push(t);
        let mut t = base.clone();
        t.shape = vec![];
        t.stride = vec![];
        t.storage_offset = s.numel - 1;
        out.push(t);
    }
    out
}

fn random_plain(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth < 3 { 12 } else { 8 }) {
        0 => Value::None,
        1 => Value::Bool(rng.chance(0.5)),
        2 => Value::Int(rng.next() as i64 >> rng.below(64)),
        3 => Value::BigInt({
            let mut b = rng.next().to_le_bytes().to_vec();
            b.extend_from_slice(&[rng.below(256) as u8, 0x40]);
            b
        }),
        4 => Value::Float(f64::from_bits(rng.next())),
        5 => Value::Str(["", "a", "é€", "😀 x", "model.lin.weight"][rng.below(5) as usize].into()),
        6 => Value::Bytes((0..rng.below(6)).map(|_| rng.below(256) as u8).collect()),
        7 => Value::Complex(rng.below(100) as f64 / 7.0, -(rng.below(5) as f64)),
        8 => Value::Tuple(
            (0..rng.below(5))
                .map(|_| random_plain(rng, depth + 1))
                .collect(),
        ),
        9 => Value::List(
            (0..rng.below(4))
                .map(|_| random_plain(rng, depth + 1))
                .collect(),
        ),
        10 => {
            let mut d = Dict::new(DictKind::Dict);
            for i in 0..rng.below(3) {
                d.push(format!("k{i}"), random_plain(rng, depth + 1));
            }
            Value::Dict(d)
        }
        _ => [
            Value::Dtype("float32".into()),
            Value::Device("cpu".into()),
            Value::Set(vec![Value::Int(1), Value::Str("x".into())]),
            Value::Dtype("bfloat16".into()),
        ][rng.below(4) as usize]
            .clone(),
    }
}

/// One random file from our writer; returns the bytes given for each contiguous whole-storage
/// tensor (by storage key) so the digests can be checked independently.
fn write_random(rng: &mut Rng, path: &Path) -> Result<HashMap<String, Vec<u8>>> {
    let mut given = HashMap::new();
    let opts = WriteOptions {
        archive_name: None,
        force_zip64: rng.chance(0.2),
    };
    match rng.below(3) {
        0 | 1 => {
            let layout = if rng.chance(0.5) {
                Layout::Flat
            } else {
                Layout::Returnn(ReturnnMeta {
                    epoch: rng.below(300) as i64,
                    step: rng.below(1 << 40) as i64,
                    effective_learning_rate: if rng.chance(0.3) {
                        None
                    } else {
                        Some(f64::from_bits(rng.next() >> 2))
                    },
                    returnn_version: "returnn-ckpt 0.1.0".into(),
                })
            };
            let mut w = StateDictWriter::create_with(path, layout, &opts)?;
            for i in 0..rng.below(7) {
                let dtype = random_dtype(rng);
                let shape = random_shape(rng);
                let numel: u64 = shape.iter().product();
                let bytes = random_bytes(rng, dtype, numel);
                let key = format!("layer{i}.weight");
                let s = if rng.chance(0.5) {
                    w.add(&key, dtype, &shape, &mut bytes.as_slice())?
                } else {
                    let mut src = bytes.as_slice();
                    w.add_with(&key, dtype, &shape, &mut |out| {
                        // in uneven pieces
                        while !src.is_empty() {
                            let n = src.len().min(3);
                            out.write_all(&src[..n])?;
                            src = &src[n..];
                        }
                        Ok(())
                    })?
                };
                given.insert(s.key.clone(), bytes);
                if rng.chance(0.4) {
                    for (j, v) in views(rng, &s, &shape).into_iter().enumerate() {
                        w.add_view(
                            &format!("layer{i}.tied{j}"),
                            &s,
                            &v.shape,
                            Some(&v.stride),
                            v.storage_offset,
                        )?;
                    }
                }
            }
            w.commit()?;
        }
        _ => {
            let mut w = PtWriter::create_with(path, &opts)?;
            let mut tensors = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let dtype = random_dtype(rng);
                let shape = random_shape(rng);
                let numel: u64 = shape.iter().product();
                let bytes = random_bytes(rng, dtype, numel);
                let s = w.add_storage(dtype, numel, &mut bytes.as_slice())?;
                given.insert(s.key.clone(), bytes);
                for mut v in views(rng, &s, &shape) {
                    v.parameter = rng.chance(0.2);
                    v.requires_grad = v.parameter && rng.chance(0.5);
                    if v.requires_grad && !v.dtype.is_float() {
                        v.requires_grad = false;
                    }
                    tensors.push(v);
                }
            }
            let mut model = Dict::new(DictKind::OrderedDict);
            for (i, t) in tensors.iter().enumerate() {
                if rng.chance(0.7) {
                    model.push(format!("m{i}"), t.clone());
                }
            }
            if rng.chance(0.5) {
                let mut meta = Dict::new(DictKind::OrderedDict);
                let mut v = Dict::new(DictKind::Dict);
                v.push("version", 1i64);
                meta.push("", v);
                model
                    .attrs
                    .push((Value::Str("_metadata".into()), Value::Dict(meta)));
            }
            let mut state = Dict::new(DictKind::Dict);
            for (i, t) in tensors.iter().enumerate().take(3) {
                let mut per = Dict::new(DictKind::Dict);
                per.push("exp_avg", t.clone());
                per.push("step", Value::Float(rng.below(9) as f64));
                state.items.push((Value::Int(i as i64), Value::Dict(per)));
            }
            let mut opt = Dict::new(DictKind::Dict);
            opt.push("state", state);
            opt.push(
                "param_groups",
                Value::List(vec![Value::Dict({
                    let mut g = Dict::new(DictKind::Dict);
                    g.push("lr", 0.01);
                    g.push(
                        "betas",
                        Value::Tuple(vec![Value::Float(0.9), Value::Float(0.999)]),
                    );
                    g.push("params", Value::List(vec![Value::Int(0), Value::Int(1)]));
                    g
                })]),
            );
            let mut top = Dict::new(DictKind::Dict);
            top.push("model", model);
            top.push("optimizer", opt);
            top.push("plain", random_plain(rng, 0));
            top.push(
                "list",
                Value::List(tensors.iter().take(2).cloned().map(Value::from).collect()),
            );
            w.commit(&Value::Dict(top))?;
        }
    }
    Ok(given)
}

// ------------------------------------------------------------------------------------------

pub fn run(root: &Path, python: &Path, args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let t0 = Instant::now();
    let tmp = tempfile::Builder::new()
        .prefix("pt-oracle-")
        .tempdir_in(root.join("target"))?;
    let work = tmp.path().to_path_buf();
    let script = root.join("tools/pt-oracle/pt_oracle.py");
    let mut problems: Vec<String> = Vec::new();

    // 1. torch writes, we read
    let tw = work.join("torch-writes");
    super::run(
        Command::new(python)
            .arg(&script)
            .arg("torch-writes")
            .arg("--out")
            .arg(&tw)
            .args([
                "--cases",
                &o.cases.to_string(),
                "--seed",
                &o.seed.to_string(),
            ]),
    )
    .context("pt_oracle.py torch-writes")?;
    let (mut agreed, mut refused_both, mut tensors_compared) = (0u32, 0u32, 0usize);
    for i in 0..o.cases {
        let pt = tw.join(format!("tw_{i:04}.pt"));
        let want = read_json(&pt.with_extension("json"))?;
        for mmap in [false, true] {
            let got = PtFile::open_with(&pt, &OpenOptions { mmap });
            let what = format!("{} (mmap {mmap})", pt.display());
            match (want.get("refused"), got) {
                (Some(why), Ok(_)) => problems.push(format!(
                    "{what}: torch refuses it ({why}) but torch-pt reads it"
                )),
                (Some(_), Err(_)) => {
                    if !mmap {
                        refused_both += 1;
                    }
                }
                (None, Err(e)) => problems.push(format!(
                    "{what}: torch reads it but torch-pt refuses: [{}] {e}",
                    e.kind().label()
                )),
                (None, Ok(f)) => match render_file(&f) {
                    Err(e) => problems.push(format!("{what}: rendering failed: {e:#}")),
                    Ok(ours) => {
                        if let Some(d) = first_diff(&want["value"], &ours, "") {
                            problems.push(format!("{what}: differs at {d}"));
                        } else if !mmap {
                            agreed += 1;
                            tensors_compared += f.tensors().len();
                        }
                    }
                },
            }
        }
    }
    eprintln!(
        "xtask: pt-oracle torch -> torch-pt: {agreed} files equal ({tensors_compared} tensors bit for bit, positioned reads and mmap), {refused_both} refused by both, {} problems",
        problems.len()
    );

    // 2. we write, torch reads
    let ow = work.join("ours");
    std::fs::create_dir_all(&ow)?;
    let mut rng = Rng(o.seed ^ 0x005E_ED0F_70C4);
    let mut expected = Vec::new();
    for i in 0..o.cases {
        let pt = ow.join(format!("ow_{i:04}.pt"));
        let given = write_random(&mut rng, &pt).with_context(|| pt.display().to_string())?;
        let f = PtFile::open(&pt).with_context(|| format!("re-reading {}", pt.display()))?;
        for t in f.tensors() {
            let whole = t.info.is_contiguous()
                && t.info.storage_offset == 0
                && t.info.numel() == Some(t.info.storage.numel);
            if let (true, Some(b)) = (whole, given.get(&t.info.storage.key)) {
                if f.digest(&t)? != <[u8; 32]>::from(Sha256::digest(b)) {
                    problems.push(format!(
                        "{}: {}: read back differs from the bytes written",
                        pt.display(),
                        t.name
                    ));
                }
            }
        }
        expected.push((pt.clone(), render_file(&f)?));
    }
    super::run(
        Command::new(python)
            .arg(&script)
            .arg("torch-reads")
            .arg("--dir")
            .arg(&ow),
    )
    .context("pt_oracle.py torch-reads")?;
    let mut equal = 0u32;
    for (pt, ours) in &expected {
        for suffix in ["torch.json", "torch_mmap.json"] {
            let theirs = read_json(&pt.with_extension(suffix))?;
            match theirs.get("value") {
                None => problems.push(format!(
                    "{}: torch.load ({suffix}) refuses our file: {}",
                    pt.display(),
                    theirs["refused"]
                )),
                Some(v) => match first_diff(v, ours, "") {
                    Some(d) => {
                        problems.push(format!("{} ({suffix}): differs at {d}", pt.display()))
                    }
                    None => equal += 1,
                },
            }
        }
    }
    eprintln!(
        "xtask: pt-oracle torch-pt -> torch: {equal} of {} loads equal (weights_only=True, with and without mmap)",
        2 * expected.len()
    );
    eprintln!(
        "xtask: pt-oracle ran {} cases each way in {:.0} s",
        o.cases,
        t0.elapsed().as_secs_f64()
    );
    if o.keep {
        let kept = tmp.keep();
        eprintln!("xtask: pt-oracle kept {}", kept.display());
    }
    if !problems.is_empty() {
        for p in problems.iter().take(20) {
            eprintln!("xtask: pt-oracle DISAGREEMENT {p}");
        }
        bail!("pt-oracle: {} disagreement(s)", problems.len());
    }
    Ok(())
}
