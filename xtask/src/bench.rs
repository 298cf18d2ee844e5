//! `cargo xtask bench [--runs N] [--size-mb M] [--many N] [--only large|many]`: throughput of
//! the reader, digest, converter and writer against the floor set by plain file I/O.
//!
//! Two deterministic checkpoints are written under `target/bench/` with our own
//! [`BundleWriter`]: `large` (RETURNN-like conformer names and shapes, float32, about
//! `--size-mb` MB in a few hundred tensors) and `many` (`--many` small tensors, default 20000).
//! Each operation then runs in this process, best of `--runs` (default 3) wall-clock times, next
//! to a baseline doing the least the operation must do:
//!
//! | operation                          | baseline                                        |
//! |------------------------------------|-------------------------------------------------|
//! | `Checkpoint::open` (index parse)   | `fs::read` of the `.index`                      |
//! | `read` of every tensor             | `fs::read` of the data file + CRC32C over it     |
//! | `read_raw_to` a sink (also mmap)   | 1 MiB `read`s of the data file + CRC32C         |
//! | `digest_tensor` of every tensor    | streaming sha256 of the data file               |
//! | convert to safetensors (fsync'd)   | `fs::copy` of the data shard + fsync            |
//! | `BundleWriter` (fsync'd)           | `fs::write` of the same bytes + fsync           |
//!
//! Ratio = operation time / baseline time (1.00 = at the floor). The files are read from a warm
//! page cache (they were just written), so the numbers measure CPU and copies, not the disk.
//! The task re-runs itself as `cargo run --release -p xtask -- bench ...` when it was built
//! without optimisations (`cargo xtask` is a debug build).

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use tf_bundle::write::{data_file_name, index_file_name, BundleWriter};
use tf_bundle::{Checkpoint, DType, OpenOptions};

const USAGE: &str =
    "usage: cargo xtask bench [--runs N] [--size-mb M] [--many N] [--only large|many]";

/// Benchmark settings.
#[derive(Clone, Debug)]
struct Opts {
    runs: usize,
    size_mb: u64,
    many: u64,
    only: Option<String>,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        runs: 3,
        size_mb: 300,
        many: 20_000,
        only: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |what: &str| -> Result<u64> {
            let v = it
                .next()
                .with_context(|| format!("{a} needs {what}\n{USAGE}"))?;
            v.parse()
                .with_context(|| format!("{a}: {v:?} is not a number\n{USAGE}"))
        };
        match a.as_str() {
            "--runs" => o.runs = num("a count")?.clamp(1, 100) as usize,
            "--size-mb" => o.size_mb = num("megabytes")?.max(1),
            "--many" => o.many = num("a tensor count")?.max(1),
            "--only" => {
                let v = it.next().context("--only needs large or many")?;
                if v != "large" && v != "many" {
                    bail!("--only takes large or many, not {v:?}\n{USAGE}");
                }
                o.only = Some(v.clone());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(o)
}

/// Entry point of `cargo xtask bench`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    if cfg!(debug_assertions) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        eprintln!("xtask: bench: re-running as a release build");
        let st = Command::new(cargo)
            .args(["run", "--release", "--quiet", "-p", "xtask", "--", "bench"])
            .args(args)
            .current_dir(root)
            .status()
            .context("starting cargo run --release")?;
        if !st.success() {
            bail!("release bench failed with {st}");
        }
        return Ok(());
    }
    let dir = root.join("target/bench");
    fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let mut rows = Vec::new();
    for (name, specs) in [
        ("large", large_specs(opts.size_mb)),
        ("many", many_specs(opts.many)),
    ] {
        if opts.only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let t0 = Instant::now();
        let payload = Payload::generate(&specs);
        let prefix = dir.join(name);
        write_bundle(&prefix, &specs, &payload)?;
        eprintln!(
            "xtask: bench: {name}: {} tensors, {:.1} MB written in {:.1} s; measuring (best of {})",
            specs.len(),
            mb(payload.bytes.len() as u64),
            t0.elapsed().as_secs_f64(),
            opts.runs
        );
        rows.extend(measure(name, &prefix, &specs, &payload, opts.runs)?);
    }
    print_table(&rows);
    let _ = fs::remove_dir_all(dir.join("tmp"));
    Ok(())
}

// ------------------------------------------------------------------------------------------
// The checkpoints

/// One tensor of a generated checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Spec {
    name: String,
    dtype: DType,
    shape: Vec<u64>,
}

impl Spec {
    fn f32(name: impl Into<String>, shape: &[u64]) -> Spec {
        Spec {
            name: name.into(),
            dtype: DType::Float32,
            shape: shape.to_vec(),
        }
    }
    fn nbytes(&self) -> u64 {
        self.shape.iter().product::<u64>() * self.dtype.element_size().unwrap_or(1) as u64
    }
}

/// One conformer block as RETURNN's conformer setups name it (d = 512, ff = 2048).
fn conformer_block(i: u32, out: &mut Vec<Spec>) {
    const D: u64 = 512;
    const FF: u64 = 2048;
    let b = format!("conformer_block_{i:02}");
    for m in 1..=2 {
        let f = format!("{b}_ffmod_{m}");
        out.push(Spec::f32(format!("{f}_ln/bias"), &[D]));
        out.push(Spec::f32(format!("{f}_ln/scale"), &[D]));
        out.push(Spec::f32(format!("{f}_ff1/W"), &[D, FF]));
        out.push(Spec::f32(format!("{f}_ff1/b"), &[FF]));
        out.push(Spec::f32(format!("{f}_ff2/W"), &[FF, D]));
        out.push(Spec::f32(format!("{f}_ff2/b"), &[D]));
    }
    out.push(Spec::f32(format!("{b}_self_att_ln/bias"), &[D]));
    out.push(Spec::f32(format!("{b}_self_att_ln/scale"), &[D]));
    out.push(Spec::f32(format!("{b}_self_att/QKV"), &[D, 3 * D]));
    out.push(Spec::f32(
        format!("{b}_self_att_ln_rel_pos_enc/encoding_matrix"),
        &[65, 64],
    ));
    out.push(Spec::f32(format!("{b}_self_att_linear/W"), &[D, D]));
    let c = format!("{b}_conv_mod");
    out.push(Spec::f32(format!("{c}_ln/bias"), &[D]));
    out.push(Spec::f32(format!("{c}_ln/scale"), &[D]));
    out.push(Spec::f32(format!("{c}_pointwise_conv1/W"), &[D, 2 * D]));
    out.push(Spec::f32(format!("{c}_pointwise_conv1/b"), &[2 * D]));
    out.push(Spec::f32(format!("{c}_depthwise_conv2/W"), &[32, 1, D]));
    out.push(Spec::f32(format!("{c}_depthwise_conv2/b"), &[D]));
    for p in ["beta", "gamma", "mean", "variance"] {
        out.push(Spec::f32(format!("{c}_bn/batch_norm/v2_{p}"), &[1, 1, D]));
    }
    out.push(Spec::f32(format!("{c}_pointwise_conv2/W"), &[D, D]));
    out.push(Spec::f32(format!("{c}_pointwise_conv2/b"), &[D]));
    out.push(Spec::f32(format!("{b}_ln/bias"), &[D]));
    out.push(Spec::f32(format!("{b}_ln/scale"), &[D]));
}

/// A conformer encoder + output layer of about `size_mb` MB (at least one block).
fn large_specs(size_mb: u64) -> Vec<Spec> {
    let mut fixed = vec![
        Spec {
            name: "global_step".into(),
            dtype: DType::Int64,
            shape: vec![],
        },
        Spec::f32("source_linear/W", &[240, 512]),
        Spec::f32("conv0/W", &[3, 3, 1, 32]),
        Spec::f32("conv0/bias", &[32]),
        Spec::f32("output/W", &[512, 10025]),
        Spec::f32("output/b", &[10025]),
    ];
    let mut one = Vec::new();
    conformer_block(1, &mut one);
    let per_block: u64 = one.iter().map(Spec::nbytes).sum();
    let fixed_bytes: u64 = fixed.iter().map(Spec::nbytes).sum();
    let want = size_mb * 1_000_000;
    let blocks = (want.saturating_sub(fixed_bytes) + per_block / 2) / per_block;
    for i in 1..=blocks.max(1) {
        conformer_block(i as u32, &mut fixed);
    }
    fixed
}

/// `n` small tensors (`W` 16×16 and `b` 16 alternately).
fn many_specs(n: u64) -> Vec<Spec> {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                Spec::f32(format!("layer_{:05}/W", i / 2), &[16, 16])
            } else {
                Spec::f32(format!("layer_{:05}/b", i / 2), &[16])
            }
        })
        .collect()
}

/// The tensors' bytes, concatenated in spec order (deterministic).
struct Payload {
    bytes: Vec<u8>,
    /// Start of each tensor in `bytes`, plus the end.
    offsets: Vec<usize>,
}

impl Payload {
    fn generate(specs: &[Spec]) -> Payload {
        let total: u64 = specs.iter().map(Spec::nbytes).sum();
        let mut bytes = Vec::with_capacity(total as usize);
        let mut offsets = vec![0];
        for (i, s) in specs.iter().enumerate() {
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (i as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            let n = s.shape.iter().product::<u64>();
            for _ in 0..n {
                // xorshift64*: small weights in [-0.05, 0.05)
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
                match s.dtype {
                    DType::Int64 => bytes.extend_from_slice(&((r >> 40) as i64).to_le_bytes()),
                    _ => {
                        let v = ((r >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1;
                        bytes.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
            offsets.push(bytes.len());
        }
        Payload { bytes, offsets }
    }
    fn tensor(&self, i: usize) -> &[u8] {
        &self.bytes[self.offsets[i]..self.offsets[i + 1]]
    }
}

fn write_bundle(prefix: &Path, specs: &[Spec], payload: &Payload) -> Result<()> {
    let mut w = BundleWriter::create(prefix)?;
    for (i, s) in specs.iter().enumerate() {
        w.add_bytes(&s.name, s.dtype, &s.shape, payload.tensor(i))?;
    }
    w.finish()?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Measuring

/// One line of the result table.
#[derive(Debug)]
struct Row {
    ckpt: &'static str,
    op: &'static str,
    bytes: u64,
    time: Duration,
    baseline: &'static str,
    base_time: Duration,
}

/// Best of `runs` times `f` reports (each call times its own measured part).
fn best(runs: usize, mut f: impl FnMut() -> Result<Duration>) -> Result<Duration> {
    let mut b = Duration::MAX;
    for _ in 0..runs {
        b = b.min(f()?);
    }
    Ok(b)
}

fn timed(f: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed())
}

fn fsync(path: &Path) -> Result<()> {
    File::open(path)?.sync_all()?;
    Ok(())
}

fn sha256_file(path: &Path) -> Result<[u8; 32]> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().into());
        }
        h.update(&buf[..n]);
    }
}

fn measure(
    ckpt: &'static str,
    prefix: &Path,
    specs: &[Spec],
    payload: &Payload,
    runs: usize,
) -> Result<Vec<Row>> {
    let index = index_file_name(prefix);
    let data = data_file_name(prefix, 0, 1);
    let data_len = fs::metadata(&data)?.len();
    let index_len = fs::metadata(&index)?.len();
    let tmp = prefix
        .parent()
        .map_or_else(|| PathBuf::from("tmp"), |p| p.join("tmp"));
    fs::create_dir_all(&tmp)?;
    let mut rows = Vec::new();
    let mut row = |op, bytes, time, baseline, base_time| {
        rows.push(Row {
            ckpt,
            op,
            bytes,
            time,
            baseline,
            base_time,
        })
    };

    // open
    let t = best(runs, || {
        timed(|| {
            let ck = Checkpoint::open(prefix)?;
            if ck.tensors().len() != specs.len() {
                bail!("{} lists {} tensors", prefix.display(), ck.tensors().len());
            }
            Ok(())
        })
    })?;
    let b = best(runs, || {
        timed(|| fs::read(&index).map(drop).map_err(Into::into))
    })?;
    row("open (index parse)", index_len, t, "fs::read .index", b);

    // the I/O + CRC floor of every whole-data operation
    let floor = best(runs, || {
        timed(|| {
            let bytes = fs::read(&data)?;
            std::hint::black_box(tf_bundle::crc::crc32c(&bytes));
            Ok(())
        })
    })?;
    let floor_name = "fs::read data + crc32c";
    // the bounded-memory floor of the streaming operations
    let stream_floor = best(runs, || {
        timed(|| {
            let mut f = File::open(&data)?;
            let mut buf = vec![0u8; 1 << 20];
            let mut crc = 0u32;
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                crc = tf_bundle::crc::extend(crc, &buf[..n]);
            }
            std::hint::black_box(crc);
            Ok(())
        })
    })?;
    let stream_name = "1 MiB reads + crc32c";
    let ck = Checkpoint::open(prefix)?;
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let t = best(runs, || {
        timed(|| {
            for n in &names {
                std::hint::black_box(ck.read(n)?);
            }
            Ok(())
        })
    })?;
    row("read all tensors", data_len, t, floor_name, floor);
    let t = best(runs, || {
        timed(|| {
            for n in &names {
                ck.read_raw_to(n, &mut std::io::sink())?;
            }
            Ok(())
        })
    })?;
    row("read_raw_to sink", data_len, t, stream_name, stream_floor);
    let mapped = Checkpoint::open_with(
        prefix,
        &OpenOptions {
            mmap: true,
            ..OpenOptions::default()
        },
    )?;
    let t = best(runs, || {
        timed(|| {
            for n in &names {
                mapped.read_raw_to(n, &mut std::io::sink())?;
            }
            Ok(())
        })
    })?;
    row(
        "read_raw_to sink (mmap)",
        data_len,
        t,
        stream_name,
        stream_floor,
    );
    let t = best(runs, || {
        timed(|| {
            for n in &names {
                std::hint::black_box(mapped.read_bytes(n)?);
            }
            Ok(())
        })
    })?;
    row(
        "read_bytes (mmap, borrowed)",
        data_len,
        t,
        stream_name,
        stream_floor,
    );

    // digest
    let t = best(runs, || {
        timed(|| {
            for n in &names {
                std::hint::black_box(tf_bundle::digest::digest_tensor(&ck, n)?);
            }
            Ok(())
        })
    })?;
    let b = best(runs, || timed(|| sha256_file(&data).map(drop)))?;
    row("digest every tensor", data_len, t, "sha256 of data file", b);

    // convert to safetensors vs copying the shard
    let out = tmp.join("out.safetensors");
    let t = best(runs, || {
        let _ = fs::remove_file(&out);
        timed(|| {
            let opts = convert::to_safetensors::Options::default();
            convert::to_safetensors::to_safetensors(&ck, &out, &opts, &mut |_| {})?;
            Ok(())
        })
    })?;
    let copy = tmp.join("copy.bin");
    let b = best(runs, || {
        let _ = fs::remove_file(&copy);
        timed(|| {
            fs::copy(&data, &copy)?;
            fsync(&copy)
        })
    })?;
    row(
        "convert to safetensors",
        data_len,
        t,
        "fs::copy shard + fsync",
        b,
    );
    let _ = fs::remove_file(&out);
    let _ = fs::remove_file(&copy);

    // writer vs writing the same bytes
    let wprefix = tmp.join("written");
    let t = best(runs, || timed(|| write_bundle(&wprefix, specs, payload)))?;
    if fs::read(data_file_name(&wprefix, 0, 1))? != fs::read(&data)? {
        bail!("the writer is not deterministic: two runs gave different data files");
    }
    let raw = tmp.join("raw.bin");
    let b = best(runs, || {
        let _ = fs::remove_file(&raw);
        timed(|| {
            let mut f = File::create(&raw)?;
            f.write_all(&payload.bytes)?;
            f.sync_all()?;
            Ok(())
        })
    })?;
    row("BundleWriter (fsync)", data_len, t, "fs::write + fsync", b);
    let _ = fs::remove_file(&raw);
    Ok(rows)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rate(bytes: u64, d: Duration) -> f64 {
    mb(bytes) / d.as_secs_f64().max(1e-9)
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<6} {:<28} {:>9} {:>10} {:>9}   {:<24} {:>10} {:>9} {:>7}",
        "ckpt", "operation", "MB", "ms", "MB/s", "baseline", "ms", "MB/s", "ratio"
    );
    for r in rows {
        println!(
            "{:<6} {:<28} {:>9.2} {:>10.2} {:>9.0}   {:<24} {:>10.2} {:>9.0} {:>7.2}",
            r.ckpt,
            r.op,
            mb(r.bytes),
            ms(r.time),
            rate(r.bytes, r.time),
            r.baseline,
            ms(r.base_time),
            rate(r.bytes, r.base_time),
            r.time.as_secs_f64() / r.base_time.as_secs_f64().max(1e-9)
        );
    }
    println!("ratio = operation time / baseline time (1.00 = at the floor); warm page cache");
    // other work on the machine slows operation and baseline alike, but not evenly
    if let Ok(l) = fs::read_to_string("/proc/loadavg") {
        println!(
            "load average while measuring: {}",
            l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_spec_is_returnn_like_and_near_the_size() {
        for mb_want in [100u64, 300, 1000] {
            let s = large_specs(mb_want);
            let total: u64 = s.iter().map(Spec::nbytes).sum();
            let mut one = Vec::new();
            conformer_block(1, &mut one);
            let per_block: u64 = one.iter().map(Spec::nbytes).sum();
            assert!(
                total.abs_diff(mb_want * 1_000_000) <= per_block / 2 + 1,
                "{total}"
            );
            let mut names: Vec<&str> = s.iter().map(|t| t.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), s.len(), "names are unique");
        }
        let s = large_specs(300);
        assert!((200..600).contains(&s.len()), "{}", s.len());
        assert!(s
            .iter()
            .any(|t| t.name == "conformer_block_11_self_att/QKV"));
        assert_eq!(
            s.iter().filter(|t| t.dtype == DType::Float32).count(),
            s.len() - 1
        );
        assert!(large_specs(1)
            .iter()
            .any(|t| t.name == "conformer_block_01_conv_mod_bn/batch_norm/v2_mean"));
    }

    #[test]
    fn generated_bundle_is_deterministic_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let specs = many_specs(101);
        let payload = Payload::generate(&specs);
        assert_eq!(*payload.offsets.last().unwrap(), payload.bytes.len());
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        write_bundle(&a, &specs, &payload).unwrap();
        write_bundle(&b, &specs, &Payload::generate(&specs)).unwrap();
        for f in [
            |p: &Path| index_file_name(p),
            |p: &Path| data_file_name(p, 0, 1),
        ] {
            assert_eq!(fs::read(f(&a)).unwrap(), fs::read(f(&b)).unwrap());
        }
        let ck = Checkpoint::open(&a).unwrap();
        assert_eq!(ck.tensors().len(), 101);
        assert!(ck.verify_all().is_empty());
        for (i, s) in specs.iter().enumerate() {
            let t = ck.read(&s.name).unwrap();
            assert_eq!(t.shape, s.shape);
            assert_eq!(
                t.data,
                tf_bundle::TensorData::Bytes(payload.tensor(i).to_vec())
            );
        }
        // values are small, finite weights, not all equal
        let w: Vec<f32> = payload
            .tensor(0)
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert!(w.iter().all(|v| v.abs() <= 0.05));
        assert!(w.iter().any(|&v| v != w[0]));
    }

    #[test]
    fn arguments() {
        let a = |v: &[&str]| parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let o = a(&["--runs", "2", "--size-mb", "50", "--only", "many"]).unwrap();
        assert_eq!((o.runs, o.size_mb, o.many), (2, 50, 20_000));
        assert_eq!(o.only.as_deref(), Some("many"));
        assert!(a(&["--only", "huge"]).is_err());
        assert!(a(&["--runs"]).is_err());
        assert!(a(&["--size-mb", "x"]).is_err());
    }
}
