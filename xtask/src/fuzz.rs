//! `cargo xtask fuzz`: runs the cargo-fuzz (libFuzzer) targets of `fuzz/` for a bounded time
//! each, and (`--seeds`) regenerates their committed seed corpus `fuzz/corpus/<target>/` from
//! the fixtures.
//!
//! * `cargo xtask fuzz [--seconds N] [--target T]...` — builds the targets once
//!   (`RUSTC_BOOTSTRAP=1 cargo fuzz build -a`: address sanitizer, debug assertions and overflow
//!   checks on), then runs each for N seconds (default 20) with memory limits
//!   (`-rss_limit_mb`, `-malloc_limit_mb`), a per-input timeout, the committed seeds as a
//!   read-only corpus and `target/fuzz-corpus/<target>` as the growing one. Prints executions
//!   per target; fails if any target found a crash, leak, timeout or over-limit allocation
//!   (the input is saved under `fuzz/artifacts/<target>/`: turn it into a regression test in
//!   `crates/tf-bundle/tests/hostile.rs`).
//! * `cargo xtask fuzz --seeds` — rewrites `fuzz/corpus/*/` from `fixtures/` (`.pt` files included; input layouts: see
//!   `fuzz/src/lib.rs`).
//!
//! Needs `cargo-fuzz` (`cargo install --locked cargo-fuzz`); works on the stable toolchain via
//! `RUSTC_BOOTSTRAP=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tf_bundle::table::builder::{TableBuilder, TableOptions};
use tf_bundle::table::{Table, SNAPPY};
use tf_bundle::varint;

/// Every fuzz target (binaries of `fuzz/Cargo.toml`).
pub const TARGETS: [&str; 9] = [
    "table",
    "bundle_entry",
    "string_tensor",
    "ordered_code",
    "reader",
    "config",
    "port_rules",
    "pt_pickle",
    "pt_reader",
];

/// Largest fuzz input (and largest seed written).
const MAX_LEN: usize = 65_536;
/// libFuzzer limits: an allocation above MALLOC_LIMIT_MB from inputs of at most MAX_LEN bytes
/// is an unbounded allocation.
const RSS_LIMIT_MB: u32 = 2048;
const MALLOC_LIMIT_MB: u32 = 256;
const TIMEOUT_S: u32 = 10;

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let mut seconds: u64 = 20;
    let mut targets: Vec<String> = Vec::new();
    let mut seeds = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .context("--seconds needs a number")?
                    .parse()
                    .context("--seconds needs a number")?
            }
            "--target" => {
                let t = it.next().context("--target needs a name")?;
                if !TARGETS.contains(&t.as_str()) {
                    bail!("unknown fuzz target {t:?}; targets: {}", TARGETS.join(", "));
                }
                targets.push(t.clone());
            }
            "--seeds" => seeds = true,
            other => bail!(
                "unknown argument {other:?}\nusage: cargo xtask fuzz [--seconds N] [--target T]... | --seeds"
            ),
        }
    }
    if seeds {
        return write_seeds(root);
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|s| s.to_string()).collect();
    }
    run_targets(root, seconds, &targets)
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn run_targets(root: &Path, seconds: u64, targets: &[String]) -> Result<()> {
    let fuzz_dir = root.join("fuzz");
    let probe = Command::new(cargo())
        .args(["fuzz", "--version"])
        .output()
        .context("running `cargo fuzz --version`")?;
    if !probe.status.success() {
        bail!("cargo-fuzz is not installed: run `cargo install --locked cargo-fuzz`");
    }
    let t0 = Instant::now();
    let st = Command::new(cargo())
        .args(["fuzz", "build", "-a"])
        .current_dir(&fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .status()
        .context("cargo fuzz build")?;
    if !st.success() {
        bail!("`cargo fuzz build` failed with {st}");
    }
    eprintln!(
        "xtask: fuzz targets built in {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    let logs = root.join("target/fuzz-logs");
    std::fs::create_dir_all(&logs)?;
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    for t in targets {
        let work = root.join("target/fuzz-corpus").join(t);
        let seeds = fuzz_dir.join("corpus").join(t);
        let artifacts = fuzz_dir.join("artifacts").join(t);
        for d in [&work, &seeds, &artifacts] {
            std::fs::create_dir_all(d)?;
        }
        let log_path = logs.join(format!("{t}.log"));
        let log = std::fs::File::create(&log_path)?;
        let started = Instant::now();
        let st = Command::new(cargo())
            .args(["fuzz", "run", "-a", t])
            .arg(&work)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-max_len={MAX_LEN}"))
            .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
            .arg(format!("-malloc_limit_mb={MALLOC_LIMIT_MB}"))
            .arg(format!("-timeout={TIMEOUT_S}"))
            .arg("-print_final_stats=1")
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .current_dir(&fuzz_dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .status()
            .with_context(|| format!("cargo fuzz run {t}"))?;
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let stat = |name: &str| -> String {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| "?".into())
        };
        let execs = stat("number_of_executed_units");
        let row = format!(
            "{t:<14} {:>11} execs {:>8}/s  new units {:>5}  peak rss {:>5} MB  {:.0} s  {}",
            execs,
            stat("average_exec_per_sec"),
            stat("new_units_added"),
            stat("peak_rss_mb"),
            started.elapsed().as_secs_f64(),
            if st.success() {
                "ok"
            } else {
                "FOUND A PROBLEM"
            }
        );
        eprintln!("xtask: fuzz {row}");
        rows.push(row);
        if !st.success() {
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!(
                "xtask: fuzz target {t} failed ({st}); log {}; last lines:",
                log_path.display()
            );
            for l in tail.iter().rev() {
                eprintln!("    {l}");
            }
            failures.push(t.clone());
        }
    }
    eprintln!(
        "xtask: fuzz summary ({seconds} s per target, -max_len={MAX_LEN}, -rss_limit_mb={RSS_LIMIT_MB}, -malloc_limit_mb={MALLOC_LIMIT_MB}):"
    );
    for r in &rows {
        eprintln!("    {r}");
    }
    if !failures.is_empty() {
        bail!(
            "fuzz targets found problems: {} (inputs in fuzz/artifacts/<target>/)",
            failures.join(", ")
        );
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Seed corpus from the fixtures

/// One top-level protobuf field: number, wire type, raw payload (varint value or bytes).
struct Field {
    num: u64,
    wire: u8,
    varint: u64,
    bytes: Vec<u8>,
}

/// Parses the top-level fields of a protobuf message (enough for `BundleEntryProto`).
fn proto_fields(mut b: &[u8]) -> Option<Vec<Field>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (key, n) = varint::decode_u64(b)?;
        b = &b[n..];
        let (num, wire) = (key >> 3, (key & 7) as u8);
        let mut f = Field {
            num,
            wire,
            varint: 0,
            bytes: Vec::new(),
        };
        match wire {
            0 => {
                let (v, n) = varint::decode_u64(b)?;
                f.varint = v;
                b = &b[n..];
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                f.bytes = b.get(..n)?.to_vec();
                b = &b[n..];
            }
            2 => {
                let (len, n) = varint::decode_u64(b)?;
                let end = n.checked_add(usize::try_from(len).ok()?)?;
                f.bytes = b.get(n..end)?.to_vec();
                b = &b[end..];
            }
            _ => return None,
        }
        out.push(f);
    }
    Some(out)
}

fn encode_fields(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        varint::encode_u64((f.num << 3) | u64::from(f.wire), &mut out);
        match f.wire {
            0 => varint::encode_u64(f.varint, &mut out),
            2 => {
                varint::encode_u64(f.bytes.len() as u64, &mut out);
                out.extend_from_slice(&f.bytes);
            }
            _ => out.extend_from_slice(&f.bytes),
        }
    }
    out
}

/// A BundleEntryProto's (dtype, shard, offset, size, masked crc, number of elements).
struct EntryInfo {
    dtype: u64,
    shard: u64,
    offset: u64,
    size: u64,
    crc: [u8; 4],
    elements: u64,
}

fn entry_info(fields: &[Field]) -> EntryInfo {
    let get = |n: u64| fields.iter().find(|f| f.num == n);
    let mut elements = 1u64;
    if let Some(shape) = get(2).and_then(|f| proto_fields(&f.bytes)) {
        for dim in shape.iter().filter(|f| f.num == 2) {
            let size = proto_fields(&dim.bytes)
                .and_then(|d| d.iter().find(|f| f.num == 1).map(|f| f.varint))
                .unwrap_or(0);
            elements = elements.saturating_mul(size);
        }
    }
    EntryInfo {
        dtype: get(1).map_or(0, |f| f.varint),
        shard: get(3).map_or(0, |f| f.varint),
        offset: get(4).map_or(0, |f| f.varint),
        size: get(5).map_or(0, |f| f.varint),
        crc: get(6)
            .and_then(|f| f.bytes.as_slice().try_into().ok())
            .unwrap_or([0; 4]),
        elements,
    }
}

struct Bundle {
    name: String,
    index: Vec<u8>,
    shards: Vec<Vec<u8>>,
}

/// Every V2 bundle of the fixtures (`*.index` with all its data files).
fn fixture_bundles(root: &Path) -> Result<Vec<Bundle>> {
    let mut found = Vec::new();
    let mut stack = vec![root.join("fixtures")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let p = e?.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "gen") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "index") {
                found.push(p);
            }
        }
    }
    found.sort();
    let mut out = Vec::new();
    for idx in found {
        let index = std::fs::read(&idx)?;
        let prefix = idx.with_extension("");
        let dir = idx.parent().context("index without a directory")?;
        let stem = prefix
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut data: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{stem}.data-")))
            })
            .collect();
        data.sort();
        let shards = data
            .iter()
            .map(std::fs::read)
            .collect::<std::io::Result<Vec<_>>>()?;
        let rel = idx
            .strip_prefix(root.join("fixtures"))
            .unwrap_or(&idx)
            .with_extension("");
        let name = rel
            .to_string_lossy()
            .replace(['/', '\\'], "-")
            .replace("net-model-", "");
        out.push(Bundle {
            name,
            index,
            shards,
        });
    }
    Ok(out)
}

fn reencode_table(entries: &[(Vec<u8>, Vec<u8>)], opts: TableOptions) -> Result<Vec<u8>> {
    let mut b = TableBuilder::new(opts);
    for (k, v) in entries {
        b.add(k, v).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(b.finish())
}

fn join_parts(mode: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![mode];
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// A protobuf field value for [`msg`].
enum Pb {
    Int(u64),
    Bytes(Vec<u8>),
}

/// Encodes a protobuf message from (field number, value) pairs (varints and length-delimited
/// fields only: enough for the V1 messages).
fn msg(fields: &[(u64, Pb)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (num, v) in fields {
        match v {
            Pb::Int(x) => {
                varint::encode_u64(num << 3, &mut out);
                varint::encode_u64(*x, &mut out);
            }
            Pb::Bytes(b) => {
                varint::encode_u64((num << 3) | 2, &mut out);
                varint::encode_u64(b.len() as u64, &mut out);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

fn shape_msg(dims: &[u64]) -> Vec<u8> {
    let dims: Vec<(u64, Pb)> = dims
        .iter()
        .map(|&d| (2, Pb::Bytes(msg(&[(1, Pb::Int(d))]))))
        .collect();
    msg(&dims)
}

/// `TensorSliceProto` of per-dimension `(start, length)`, `length = -1` meaning full.
fn slice_msg(ext: &[(i64, i64)]) -> Vec<u8> {
    let e: Vec<(u64, Pb)> = ext
        .iter()
        .map(|&(start, len)| {
            let inner = if len == -1 {
                Vec::new()
            } else {
                msg(&[(1, Pb::Int(start as u64)), (2, Pb::Int(len as u64))])
            };
            (1, Pb::Bytes(inner))
        })
        .collect();
    msg(&e)
}

/// Small V1 checkpoints (one and two files): a float32 [2, 3] tensor in one full slice, an
/// int64 [4] tensor in two slices (one per file in the two-file case), a string [2] tensor.
fn v1_checkpoints() -> Result<Vec<(String, Vec<Vec<u8>>)>> {
    const FLOAT: u64 = 1;
    const INT64: u64 = 9;
    const STRING: u64 = 7;
    let versions = msg(&[(1, Pb::Int(1))]);
    let floats: Vec<u8> = (0..6u32)
        .flat_map(|i| (i as f32 * 0.5).to_le_bytes())
        .collect();
    let packed = |vals: &[u64]| {
        let mut out = Vec::new();
        for &v in vals {
            varint::encode_u64(v, &mut out);
        }
        out
    };
    // (tensor, dtype, shape, stored slices with their TensorProto value fields)
    type Slice = (Vec<(i64, i64)>, Vec<(u64, Pb)>);
    let tensors: Vec<(&str, u64, Vec<u64>, Vec<Slice>)> = vec![
        (
            "dense/kernel",
            FLOAT,
            vec![2, 3],
            vec![(vec![(0, -1), (0, -1)], vec![(5, Pb::Bytes(floats))])],
        ),
        (
            "part/ids",
            INT64,
            vec![4],
            vec![
                (vec![(0, 2)], vec![(10, Pb::Bytes(packed(&[7, 1 << 40])))]),
                (vec![(2, 2)], vec![(10, Pb::Bytes(packed(&[u64::MAX, 3])))]),
            ],
        ),
        (
            "vocab",
            STRING,
            vec![2],
            vec![(
                vec![(0, -1)],
                vec![(8, Pb::Bytes(b"a".to_vec())), (8, Pb::Bytes(Vec::new()))],
            )],
        ),
    ];
    let table_of = |which: &dyn Fn(usize) -> bool| -> Result<Vec<u8>> {
        let mut meta_tensors = Vec::new();
        let mut records: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (name, dtype, shape, slices) in &tensors {
            let mut meta = vec![
                (1, Pb::Bytes(name.as_bytes().to_vec())),
                (2, Pb::Bytes(shape_msg(shape))),
                (3, Pb::Int(*dtype)),
            ];
            for (i, (ext, values)) in slices.iter().enumerate() {
                if !which(i) {
                    continue;
                }
                meta.push((4, Pb::Bytes(slice_msg(ext))));
                let mut data = vec![(1, Pb::Int(*dtype))];
                for (f, v) in values {
                    data.push((
                        *f,
                        match v {
                            Pb::Int(x) => Pb::Int(*x),
                            Pb::Bytes(b) => Pb::Bytes(b.clone()),
                        },
                    ));
                }
                let saved = msg(&[
                    (1, Pb::Bytes(name.as_bytes().to_vec())),
                    (2, Pb::Bytes(slice_msg(ext))),
                    (3, Pb::Bytes(msg(&data))),
                ]);
                records.push((
                    tf_bundle::ordered_code::encode_slice_key(name.as_bytes(), ext),
                    msg(&[(2, Pb::Bytes(saved))]),
                ));
            }
            meta_tensors.push((1, Pb::Bytes(msg(&meta))));
        }
        meta_tensors.push((2, Pb::Bytes(versions.clone())));
        let header = msg(&[(1, Pb::Bytes(msg(&meta_tensors)))]);
        records.sort();
        let mut all = vec![(Vec::new(), header)];
        all.extend(records);
        reencode_table(&all, TableOptions::default())
    };
    Ok(vec![
        ("v1-one-file".into(), vec![table_of(&|_| true)?]),
        (
            "v1-two-files".into(),
            vec![table_of(&|i| i == 0)?, table_of(&|i| i == 1)?],
        ),
    ])
}

fn write_seeds(root: &Path) -> Result<()> {
    let corpus = root.join("fuzz/corpus");
    let mut seeds: Vec<(&str, String, Vec<u8>)> = Vec::new();
    let bundles = fixture_bundles(root)?;
    let mut seen_entries = std::collections::BTreeSet::new();
    for b in &bundles {
        let table = Table::parse(&b.index).map_err(|e| anyhow::anyhow!("{}: {e}", b.name))?;
        let entries = table
            .entries(&b.index)
            .map_err(|e| anyhow::anyhow!("{}: {e}", b.name))?;
        let total = b.index.len() + b.shards.iter().map(Vec::len).sum::<usize>();
        if b.index.len() <= MAX_LEN {
            seeds.push(("table", b.name.clone(), b.index.clone()));
            let snappy = TableOptions {
                block_size: 256,
                restart_interval: 4,
                compression: SNAPPY,
            };
            seeds.push((
                "table",
                format!("{}-snappy-small-blocks", b.name),
                reencode_table(&entries, snappy)?,
            ));
        }
        if total + 64 <= MAX_LEN {
            let mut parts: Vec<&[u8]> = vec![&b.index];
            parts.extend(b.shards.iter().map(Vec::as_slice));
            seeds.push(("reader", b.name.clone(), join_parts(0, &parts)));
            seeds.push((
                "reader",
                format!("{}-crc-repair", b.name),
                join_parts(2, &parts),
            ));
        }
        for (i, (key, value)) in entries.iter().enumerate().skip(1) {
            if key.first() == Some(&0) {
                seeds.push(("ordered_code", format!("{}-{i}", b.name), key.clone()));
            }
            let Some(fields) = proto_fields(value) else {
                continue;
            };
            let info = entry_info(&fields);
            let payload = b
                .shards
                .get(info.shard as usize)
                .and_then(|s| s.get(info.offset as usize..(info.offset + info.size) as usize))
                .unwrap_or_default();
            if payload.len() > MAX_LEN / 2 {
                continue;
            }
            if info.dtype == 7 && !payload.is_empty() && info.elements <= u64::from(u16::MAX) {
                let mut s = (info.elements as u16).to_le_bytes().to_vec();
                s.push(0);
                s.extend_from_slice(&info.crc);
                s.extend_from_slice(payload);
                seeds.push(("string_tensor", format!("{}-{i}", b.name), s));
            }
            // One entry seed per kind of entry (dtype; slice key or not; partitioned or not;
            // 0, 1 or more elements), to keep the corpus small.
            let partitioned = fields.iter().any(|f| f.num == 7);
            let kind = (
                info.dtype,
                key.first() == Some(&0),
                partitioned,
                info.elements.min(2),
            );
            if !seen_entries.insert(kind) {
                continue;
            }
            // Re-based entry: shard 0 holds exactly this payload at offset 0.
            let rebased: Vec<Field> = fields
                .into_iter()
                .filter(|f| f.num != 3 && f.num != 4)
                .collect();
            let mut seed = (payload.len() as u16).to_le_bytes().to_vec();
            seed.extend_from_slice(payload);
            seed.extend_from_slice(&encode_fields(&rebased));
            seeds.push(("bundle_entry", format!("{}-{i}", b.name), seed));
        }
    }
    // V1 (SavedTensorSlices) tables: no fixture has one, so build them here.
    for (name, files) in v1_checkpoints()? {
        // The seeds must be valid V1 checkpoints: every tensor reads.
        let c = tf_bundle::Checkpoint::from_memory_v1(files.clone())
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        for t in c.tensors() {
            c.read(&t.name)
                .map_err(|e| anyhow::anyhow!("{name}: {}: {e}", t.name))?;
        }
        if c.tensors().len() != 3 {
            bail!("{name}: {} tensors, expected 3", c.tensors().len());
        }
        for (i, f) in files.iter().enumerate() {
            seeds.push(("table", format!("{name}-{i}"), f.clone()));
        }
        let parts: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
        seeds.push(("reader", name.clone(), join_parts(1, &parts)));
        seeds.push((
            "reader",
            format!("{name}-crc-repair"),
            join_parts(3, &parts),
        ));
    }
    // OrderedCode numbers at the encoding's length boundaries.
    let mut nums = Vec::new();
    for v in [
        0i64,
        1,
        -1,
        63,
        64,
        -64,
        -65,
        8191,
        8192,
        i64::MAX,
        i64::MIN,
    ] {
        nums.extend_from_slice(&v.to_le_bytes());
    }
    seeds.push(("ordered_code", "numbers".into(), nums));
    // Configs: the RETURNN fixtures' configs (Python), plus JSON, line-based and overrides.
    for case in std::fs::read_dir(root.join("fixtures"))? {
        let p = case?.path().join("returnn.config");
        if let Ok(text) = std::fs::read(&p) {
            let name = p
                .parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut s = vec![0u8];
            s.extend_from_slice(&text);
            seeds.push(("config", name, s));
        }
    }
    for (name, mode, text) in [
        (
            "json",
            1u8,
            r#"{"task": "train", "num_epochs": 5, "lr": 1e-3, "x": [1, 2.5, "s", null, true], "d": {"a": {"b": []}}}"#,
        ),
        (
            "lines",
            1,
            "task train\nnum_epochs 5\nlearning_rate 0.01 # comment\nmodel /tmp/x/net-model/network\nlist a,b,c\n",
        ),
        (
            "python-exprs",
            0,
            "import os\nx = 1 + 2 * 3\ny = [i for i in range(3)]\nz = {'a': (1, 2), 'b': -0.5, **{}}\ns = 'a' 'b' + \"c\" * 2\nif x > 3:\n    w = x // 2\nelse:\n    w = None\ndef f(a):\n    return a\nnetwork = {'out': {'class': 'softmax', 'from': ['data'], 'loss': 'ce'}}\n",
        ),
        (
            "overrides",
            2,
            "++task\ntrain\n++learning_rate\n+-0.5\n++network\n{'a': 1}\n++num_epochs\n3",
        ),
    ] {
        let mut s = vec![mode];
        s.extend_from_slice(text.as_bytes());
        seeds.push(("config", name.into(), s));
    }
    // port_rules: the example rules, every preset by name, explicit transforms
    let example =
        std::fs::read(root.join("examples/port-nativelstm/rules.toml")).unwrap_or_default();
    seeds.push(("port_rules", "example".into(), example));
    seeds.push((
        "port_rules",
        "presets".into(),
        b"version = 1\n[defaults]\nstyle = \"torch\"\ncast = true\n[ignore]\ntf_match = [\".*step\"]\n[[layer]]\nname = \"cell\"\nforget_bias = 0.5\n[[layer]]\nmatch = \"(l)(n)\"\ntarget = \"x.{1}{2}\"\n[[layer]]\nname = \"att\"\nmodule = \"rf.SelfAttention\"\n".to_vec(),
    ));
    seeds.push((
        "port_rules",
        "vars".into(),
        b"version = 1\n[[var]]\ninputs = [\"lin/W\", \"lin/W\"]\ntarget = \"w\"\ntransforms = [{ op = \"concat\", axis = 1 }, { op = \"reshape\", shape = [-1, 2] }, { op = \"split\", axis = 0, parts = 2, index = 1 }, { op = \"gate_reorder\", axis = 0, from = \"abc\", to = \"cab\" }, { op = \"add\", value = 1.0, axis = 1, blocks = 2, block = 0 }, { op = \"cast\", dtype = \"bfloat16\" }]\n[[var]]\ninputs = []\ntarget = \"c\"\ntransforms = [{ op = \"const\", value = 3.0, dtype = \"int32\", shape = [2, 2] }]\n".to_vec(),
    ));
    // .pt files: the fixtures' (written by RETURNN's PyTorch engine) as whole archives (as is
    // and with CRC repair) and their data.pkl for the unpickler.
    let mut pts = Vec::new();
    let mut stack = vec![root.join("fixtures")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pt") {
                pts.push(p);
            }
        }
    }
    pts.sort();
    for p in pts {
        let bytes = std::fs::read(&p)?;
        let name = p
            .strip_prefix(root.join("fixtures"))
            .unwrap_or(&p)
            .to_string_lossy()
            .replace(['/', '\\'], "-")
            .replace("net-model-", "");
        let z = torch_pt::zip::ZipArchive::parse(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        if let Some(e) = z.get("data.pkl") {
            let pkl = torch_pt::zip::read_entry(&bytes, e).map_err(|e| anyhow::anyhow!("{e}"))?;
            seeds.push(("pt_pickle", name.clone(), pkl));
        }
        for mode in [0u8, 1] {
            let mut s = vec![mode];
            s.extend_from_slice(&bytes);
            seeds.push(("pt_reader", format!("{name}-mode{mode}"), s));
        }
    }
    // Write: each target directory is replaced.
    for t in TARGETS {
        let d = corpus.join(t);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
        }
        std::fs::create_dir_all(&d)?;
    }
    let mut counts = std::collections::BTreeMap::new();
    let mut bytes = 0usize;
    for (t, name, data) in &seeds {
        if data.len() > MAX_LEN {
            continue;
        }
        std::fs::write(corpus.join(t).join(name), data)?;
        *counts.entry(*t).or_insert(0usize) += 1;
        bytes += data.len();
    }
    eprintln!("xtask: wrote the fuzz seed corpus ({bytes} bytes): {counts:?}");
    Ok(())
}
