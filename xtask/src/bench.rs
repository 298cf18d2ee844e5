//! `cargo xtask bench [--sizes 1,4] [--runs N] [--many N] [--no-tf]`: every streaming job of the
//! release binary on checkpoints written by real TensorFlow, against the floor of plain I/O
//! measured in the same run, and TF-Python doing the same job. One table.
//!
//! * Inputs (under `target/bench/`, reused while their stamp matches): for each size `G` in
//!   GiB, three checkpoints `gG/ep{1,2,3}` written by the venv's TensorFlow
//!   (`tf.raw_ops.SaveV2`: 64 float32 variables `[G·4096, 1024]` plus one bfloat16
//!   `[1024, 1024]`, see `bench_tf.py`), and `many` (`--many` variables, default 20000).
//! * Every job is a child process (`target/release/returnn-ckpt`, this xtask's `--driver` for
//!   the library functions the CLI does not call yet, `cp`, the venv's python), measured with
//!   `wait4`: wall time, user+sys CPU time and peak RSS of that process. Best wall time of
//!   `--runs` (default 2) for our jobs and floors; one run for TF-Python.
//! * Floors: `cp` of the data file followed by `sync` of the copy (cp uses copy_file_range like
//!   ours; the fsync because our outputs are fsync'd before the rename); `read+crc`: this
//!   xtask reading the files in 1 MiB chunks with CRC32C, one thread (the read-only jobs);
//!   avg: `read+crc` of the three inputs plus the copy of one data file. Ratio = job / floor.
//!   Every measured run starts after a `sync` (no dirty pages of earlier outputs).
//! * The digest's bound: `read+sha256` (this xtask hashing the data file in one contiguous part
//!   per core) is printed beside it; SHA-256 runs at ~1.4 GB/s per core with the CPU's SHA
//!   instructions (sha2 and `openssl speed` agree), below the read floor's speed.
//! * Goals (issue 16, 2 cores): convert ≤ 1.11× (≥ 0.9× cp throughput), avg ≤ 1.5×, read-only
//!   jobs ≤ 1.3×, peak RSS ≤ 64 MiB and within ±10% between the sizes, listing `many` ≤ 20 ms.
//!
//! The page cache is warm after the first run (the files were just written or read), so this
//! measures CPU and copies, not the disk. Other processes share the machine: the load average
//! is printed before each size; repeat when `uptime` is quiet. Numbers live here only, never in
//! tests. The task re-runs itself as a release build when built without optimisations.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// From this size on, ep2 and ep3 are hard links to ep1 (disk space), and the
/// safetensors -> TF row is left out (its input would be another copy).
const LINKED_FROM_GIB: u64 = 4;

const USAGE: &str = "usage: cargo xtask bench [--sizes 1,4] [--runs N] [--many N] [--no-tf]";

#[derive(Clone, Debug)]
struct Opts {
    sizes: Vec<u64>,
    runs: usize,
    many: u64,
    tf: bool,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        sizes: vec![1, 4],
        runs: 2,
        many: 20_000,
        tf: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--sizes" => {
                o.sizes = val()?
                    .split(',')
                    .map(|s| s.parse::<u64>().map(|v| v.max(1)))
                    .collect::<Result<_, _>>()
                    .with_context(|| format!("--sizes takes GiB like 1,4\n{USAGE}"))?
            }
            "--runs" => o.runs = val()?.parse::<usize>()?.clamp(1, 20),
            "--many" => o.many = val()?.parse::<u64>()?.max(1),
            "--no-tf" => o.tf = false,
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(o)
}

/// Entry point of `cargo xtask bench`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("--driver") {
        return driver(&args[1..]);
    }
    let opts = parse(args)?;
    if cfg!(debug_assertions) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        eprintln!("xtask: bench: building release binaries and re-running as a release build");
        let st = Command::new(&cargo)
            .args(["build", "--release", "--quiet", "-p", "returnn-ckpt"])
            .current_dir(root)
            .status()
            .context("cargo build --release")?;
        if !st.success() {
            bail!("release build failed with {st}");
        }
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
    Bench::new(root, opts)?.all()
}

// ------------------------------------------------------------------------------------------
// Measuring child processes

/// What one child process cost.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    wall: f64,
    cpu: f64,
    rss_mib: f64,
}

/// Runs `cmd` (stdout/stderr to `log`), reaps it with `wait4` and returns its usage. A
/// non-zero exit is an error unless `ok_codes` contains it.
fn measure(cmd: &mut Command, log: &Path, ok_codes: &[i32]) -> Result<Usage> {
    let out = File::create(log)?;
    let err = out.try_clone()?;
    let t0 = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: plain FFI call with valid pointers to locals; `child` is ours and not waited on
    // by anyone else (std's `Child` only reaps in `wait`, which is never called).
    #[allow(unsafe_code)]
    let (r, ru) = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        let r = libc::wait4(pid, &mut status, 0, &mut ru);
        (r, ru)
    };
    let wall = t0.elapsed().as_secs_f64();
    if r != pid {
        bail!(
            "wait4 failed for {cmd:?}: {}",
            std::io::Error::last_os_error()
        );
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    if code != 0 && !ok_codes.contains(&code) {
        let text = fs::read_to_string(log).unwrap_or_default();
        bail!("{cmd:?} exited with {code}:\n{}", tail(&text, 20));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Ok(Usage {
        wall,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        rss_mib: ru.ru_maxrss as f64 / 1024.0,
    })
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

// ------------------------------------------------------------------------------------------
// The driver: library functions the CLI does not call yet, and the read floor

/// `--driver JOB ARGS`: runs in a child process so it is measured like the binary.
fn driver(args: &[String]) -> Result<()> {
    use tf_bundle::par::Jobs;
    let (job, rest) = args.split_first().context("--driver needs a job")?;
    match job.as_str() {
        // the floor of the read-only jobs: read every file in 1 MiB chunks + CRC32C
        "read-crc" => {
            let mut buf = vec![0u8; 1 << 20];
            let mut crc = 0u32;
            for f in rest {
                let mut file = File::open(f).with_context(|| f.clone())?;
                loop {
                    let n = file.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    crc = tf_bundle::crc::extend(crc, &buf[..n]);
                }
            }
            println!("{crc:08x}");
        }
        // the bound of the digest: SHA-256 of the files' bytes on every core (each file cut into
        // one contiguous part per core, read in 1 MiB chunks), what no digest can beat
        "read-sha256" => {
            use sha2::Digest;
            use std::os::unix::fs::FileExt;
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            for f in rest {
                let file = File::open(f).with_context(|| f.clone())?;
                let len = file.metadata()?.len();
                let part = len.div_ceil(threads as u64);
                let out: Vec<Result<[u8; 32]>> = std::thread::scope(|sc| {
                    let hs: Vec<_> = (0..threads as u64)
                        .map(|k| {
                            let file = &file;
                            sc.spawn(move || -> Result<[u8; 32]> {
                                let (mut at, end) = (k * part, ((k + 1) * part).min(len));
                                let mut buf = vec![0u8; 1 << 20];
                                let mut h = sha2::Sha256::new();
                                while at < end {
                                    let n = ((end - at) as usize).min(buf.len());
                                    file.read_exact_at(&mut buf[..n], at)?;
                                    h.update(&buf[..n]);
                                    at += n as u64;
                                }
                                Ok(h.finalize().into())
                            })
                        })
                        .collect();
                    hs.into_iter()
                        .map(|h| h.join().map_err(|_| anyhow::anyhow!("a thread panicked"))?)
                        .collect()
                });
                for r in out {
                    r?;
                }
            }
        }
        // opening + the tensor list (what `inspect` prints, without the CLI's formatting)
        "list" => {
            use std::io::Write;
            let path = rest.first().context("a checkpoint")?;
            let t0 = Instant::now();
            let ck = tf_bundle::Checkpoint::open(path)?;
            let opened = t0.elapsed();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for t in ck.tensors() {
                writeln!(out, "{} ({}) {:?}", t.name, t.dtype, t.shape)?;
            }
            out.flush()?;
            eprintln!(
                "open {:.1} ms, total {:.1} ms",
                opened.as_secs_f64() * 1e3,
                t0.elapsed().as_secs_f64() * 1e3
            );
        }
        "verify" | "stats" | "digest" => {
            let path = rest.first().context("a checkpoint")?;
            let ck = tf_bundle::Checkpoint::open(path)?;
            let jobs = Jobs::default();
            let bad = match job.as_str() {
                "verify" => tf_bundle::verify::verify_all(&ck, jobs, &|_| {}).len(),
                "stats" => tf_bundle::scan::stats_all(&ck, jobs, &|_| {})
                    .iter()
                    .filter(|r| r.is_err())
                    .count(),
                _ => tf_bundle::scan::digest_all(&ck, jobs, &|_| {})
                    .iter()
                    .filter(|r| r.is_err())
                    .count(),
            };
            if bad > 0 {
                bail!("{bad} errors");
            }
        }
        other => bail!("unknown driver job {other:?}"),
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// The benchmark

struct Bench {
    root: PathBuf,
    dir: PathBuf,
    out: PathBuf,
    bin: PathBuf,
    xtask: PathBuf,
    python: Option<PathBuf>,
    opts: Opts,
    rows: Vec<Row>,
}

struct Row {
    size: String,
    job: String,
    ours: Usage,
    floor: Option<(String, f64)>,
    goal: Goal,
    tf: Option<Usage>,
}

#[derive(Clone, Copy)]
enum Goal {
    /// job / floor at most this.
    Ratio(f64),
    /// wall time at most this many seconds.
    Wall(f64),
    None,
}

impl Bench {
    fn new(root: &Path, opts: Opts) -> Result<Bench> {
        let dir = root.join("target/bench");
        let out = dir.join("out");
        fs::create_dir_all(&out)?;
        let python = root.join("target/fixtures-venv/bin/python");
        let python = (opts.tf && python.exists()).then_some(python);
        if opts.tf && python.is_none() {
            bail!("the TF checkpoints need the venv (target/fixtures-venv); run cargo xtask venv");
        }
        Ok(Bench {
            root: root.to_path_buf(),
            bin: root.join("target/release/returnn-ckpt"),
            xtask: std::env::current_exe()?,
            dir,
            out,
            python,
            opts,
            rows: Vec::new(),
        })
    }

    fn log(&self) -> PathBuf {
        self.dir.join("last-job.log")
    }

    fn clean_out(&self) -> Result<()> {
        for e in fs::read_dir(&self.out)? {
            let p = e?.path();
            if p.is_dir() {
                fs::remove_dir_all(&p)?;
            } else {
                fs::remove_file(&p)?;
            }
        }
        Ok(())
    }

    /// Best wall time of `--runs` runs (peak RSS: the largest seen), outputs removed before
    /// each run.
    fn best(&self, args: &[String], ok: &[i32]) -> Result<Usage> {
        let mut best: Option<Usage> = None;
        let mut rss: f64 = 0.0;
        for _ in 0..self.opts.runs {
            self.clean_out()?;
            // start every run with no dirty pages (earlier outputs' writeback would throttle it)
            let _ = Command::new("sync").status();
            let (prog, rest) = args.split_first().context("empty command")?;
            let u = measure(Command::new(prog).args(rest), &self.log(), ok)?;
            rss = rss.max(u.rss_mib);
            if best.is_none_or(|b| u.wall < b.wall) {
                best = Some(u);
            }
        }
        let mut b = best.context("no run")?;
        b.rss_mib = rss;
        Ok(b)
    }

    fn python_job(&self, args: &[String]) -> Result<Option<Usage>> {
        let Some(py) = &self.python else {
            return Ok(None);
        };
        self.clean_out()?;
        let script = self.dir.join("bench_tf.py");
        let u = measure(Command::new(py).arg(&script).args(args), &self.log(), &[])?;
        Ok(Some(u))
    }

    fn gen(&self) -> Result<()> {
        let script = self.dir.join("bench_tf.py");
        fs::write(&script, include_str!("bench_tf.py"))?;
        let py = self
            .python
            .clone()
            .context("generating the checkpoints needs TensorFlow (the venv)")?;
        let stamp_of = |what: &str| format!("bench_tf.py v1 {what}\n");
        let mut jobs: Vec<(PathBuf, Vec<String>)> = Vec::new();
        for &g in &self.opts.sizes {
            let d = self.dir.join(format!("g{g}"));
            fs::create_dir_all(&d)?;
            // sizes of 4 GiB and more: ep2 and ep3 are hard links to ep1 (three distinct 4 GiB
            // files do not fit the disk beside the outputs); avg and diff read them all the same
            let distinct = if g >= LINKED_FROM_GIB { 1 } else { 3 };
            for e in 1..=distinct {
                let p = d.join(format!("ep{e}"));
                jobs.push((
                    p.clone(),
                    vec!["gen".into(), s(&p), g.to_string(), e.to_string()],
                ));
            }
        }
        let many = self.dir.join("many");
        jobs.push((
            many.clone(),
            vec!["many".into(), s(&many), self.opts.many.to_string()],
        ));
        for (p, args) in jobs {
            let stamp = PathBuf::from(format!("{}.stamp", p.display()));
            let want = stamp_of(&args[2..].join(" "));
            if fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str())
                && PathBuf::from(format!("{}.index", p.display())).exists()
            {
                continue;
            }
            let t0 = Instant::now();
            measure(Command::new(&py).arg(&script).args(&args), &self.log(), &[])?;
            fs::write(&stamp, want)?;
            eprintln!(
                "xtask: bench: TF wrote {} in {:.1} s",
                p.display(),
                t0.elapsed().as_secs_f64()
            );
        }
        for &g in &self.opts.sizes {
            if g < LINKED_FROM_GIB {
                continue;
            }
            let d = self.dir.join(format!("g{g}"));
            for e in 2..=3 {
                for ext in ["index", "data-00000-of-00001"] {
                    let link = d.join(format!("ep{e}.{ext}"));
                    let _ = fs::remove_file(&link);
                    fs::hard_link(d.join(format!("ep1.{ext}")), &link)?;
                }
            }
        }
        Ok(())
    }

    fn push(
        &mut self,
        size: &str,
        job: &str,
        ours: Usage,
        floor: Option<(&str, f64)>,
        goal: Goal,
        tf: Option<Usage>,
    ) {
        eprintln!(
            "xtask: bench: {size} {job}: {:.3} s{}",
            ours.wall,
            floor.map_or(String::new(), |f| format!(" (floor {} {:.3} s)", f.0, f.1))
        );
        self.rows.push(Row {
            size: size.into(),
            job: job.into(),
            ours,
            floor: floor.map(|(w, t)| (w.to_string(), t)),
            goal,
            tf,
        });
    }

    fn all(mut self) -> Result<()> {
        if !self.bin.exists() {
            bail!(
                "{} is missing: cargo build --release -p returnn-ckpt",
                self.bin.display()
            );
        }
        self.gen()?;
        let bin = s(&self.bin);
        let xt = s(&self.xtask);
        let out = self.out.clone();
        let mut loads = Vec::new();
        // listing the many-variable checkpoint
        let many = s(&self.dir.join("many"));
        loads.push(format!("many: {}", load_average()));
        let u = self.best(&[bin.clone(), "inspect".into(), many.clone()], &[])?;
        let tf = if self.opts.tf {
            self.python_job(&["list".into(), many.clone()])?
        } else {
            None
        };
        self.push("20k vars", "inspect (list)", u, None, Goal::Wall(0.020), tf);
        let u = self.best(
            &[
                xt.clone(),
                "bench".into(),
                "--driver".into(),
                "list".into(),
                many.clone(),
            ],
            &[],
        )?;
        self.push(
            "20k vars",
            "open + list (library)",
            u,
            None,
            Goal::Wall(0.020),
            None,
        );
        if self.opts.tf {
            let imp = self.python_job(&["import".into()])?;
            if let Some(u) = imp {
                self.push(
                    "-",
                    "python: import tensorflow",
                    u,
                    None,
                    Goal::None,
                    Some(u),
                );
            }
        }
        for g in self.opts.sizes.clone() {
            loads.push(format!("{g} GiB: {}", load_average()));
            let size = format!("{g} GiB");
            let gdir = self.dir.join(format!("g{g}"));
            let ep = |e: u64| s(&gdir.join(format!("ep{e}")));
            let data = |e: u64| format!("{}.data-00000-of-00001", ep(e));
            let (a, b, c) = (ep(1), ep(2), ep(3));
            // our outputs are fsync'd before they are renamed into place: so is the floor's copy
            let cp_floor = |me: &Self, src: &str| -> Result<f64> {
                Ok(me
                    .best(
                        &[
                            "sh".into(),
                            "-c".into(),
                            "cp \"$0\" \"$1\" && sync \"$1\"".into(),
                            src.into(),
                            s(&out.join("cp.tmp")),
                        ],
                        &[],
                    )?
                    .wall)
            };
            let read_floor = |me: &Self, files: &[String]| -> Result<f64> {
                let mut args = vec![
                    xt.clone(),
                    "bench".into(),
                    "--driver".into(),
                    "read-crc".into(),
                ];
                args.extend(files.iter().cloned());
                Ok(me.best(&args, &[])?.wall)
            };
            let tfj = |me: &Self, args: &[&str]| -> Result<Option<Usage>> {
                if !me.opts.tf {
                    return Ok(None);
                }
                me.python_job(&args.iter().map(|x| x.to_string()).collect::<Vec<_>>())
            };
            let o = |n: &str| s(&out.join(n));

            // convert
            let f = cp_floor(&self, &data(1))?;
            let u = self.best(
                &[bin.clone(), "convert".into(), a.clone(), o("x.safetensors")],
                &[],
            )?;
            let tf = tfj(&self, &["convert", &a, &o("x.safetensors")])?;
            self.push(
                &size,
                "convert -> safetensors",
                u,
                Some(("cp+fsync", f)),
                Goal::Ratio(1.0 / 0.9),
                tf,
            );
            let u = self.best(
                &[
                    bin.clone(),
                    "convert".into(),
                    a.clone(),
                    o("x"),
                    "--to".into(),
                    "tf".into(),
                ],
                &[],
            )?;
            let tf = tfj(&self, &["to_tf", &a, &o("x")])?;
            self.push(
                &size,
                "convert --to tf (bundle)",
                u,
                Some(("cp+fsync", f)),
                Goal::Ratio(1.0 / 0.9),
                tf,
            );
            if g < LINKED_FROM_GIB {
                let st_path = gdir.join("ep1.safetensors");
                if !st_path.exists() {
                    let mut c = Command::new(&bin);
                    c.args(["convert", &a]).arg(&st_path);
                    measure(&mut c, &self.log(), &[])?;
                }
                let st_in = s(&st_path);
                let fs_ = cp_floor(&self, &st_in)?;
                let u = self.best(
                    &[
                        bin.clone(),
                        "convert".into(),
                        st_in.clone(),
                        o("y"),
                        "--to".into(),
                        "tf".into(),
                    ],
                    &[],
                )?;
                let tf = tfj(&self, &["st_to_tf", &st_in, &o("y")])?;
                self.push(
                    &size,
                    "convert safetensors --to tf",
                    u,
                    Some(("cp+fsync", fs_)),
                    Goal::Ratio(1.0 / 0.9),
                    tf,
                );
                fs::remove_file(&st_path)?;
            }

            // avg of 3
            let r3 = read_floor(&self, &[data(1), data(2), data(3)])?;
            let u = self.best(
                &[
                    bin.clone(),
                    "avg".into(),
                    a.clone(),
                    b.clone(),
                    c.clone(),
                    "--out".into(),
                    o("avg"),
                ],
                &[],
            )?;
            let tf = tfj(&self, &["avg", &o("avg"), &a, &b, &c])?;
            self.push(
                &size,
                "avg of 3",
                u,
                Some(("read3+cp+fsync", r3 + f)),
                Goal::Ratio(1.5),
                tf,
            );

            // diff
            let r2 = read_floor(&self, &[data(1), data(2)])?;
            let u = self.best(&[bin.clone(), "diff".into(), a.clone(), b.clone()], &[1])?;
            let tf = tfj(&self, &["diff", &a, &b])?;
            self.push(
                &size,
                "diff",
                u,
                Some(("read2+crc", r2)),
                Goal::Ratio(1.3),
                tf,
            );

            // read-only jobs: the binary and the library functions
            let r1 = read_floor(&self, &[data(1)])?;
            for (job, cli, drv, tfname) in [
                ("verify", vec!["verify"], "verify", "verify"),
                (
                    "inspect --stats",
                    vec!["inspect", "--stats"],
                    "stats",
                    "stats",
                ),
                (
                    "inspect --digest",
                    vec!["inspect", "--digest"],
                    "digest",
                    "digest",
                ),
            ] {
                let mut args = vec![bin.clone()];
                args.extend(cli.iter().map(|x| x.to_string()));
                args.push(a.clone());
                let u = self.best(&args, &[])?;
                let tf = tfj(&self, &[tfname, &a])?;
                self.push(
                    &size,
                    &format!("{job} (binary)"),
                    u,
                    Some(("read+crc", r1)),
                    Goal::Ratio(1.3),
                    tf,
                );
                let u = self.best(
                    &[
                        xt.clone(),
                        "bench".into(),
                        "--driver".into(),
                        drv.into(),
                        a.clone(),
                    ],
                    &[],
                )?;
                self.push(
                    &size,
                    &format!("{drv}_all (library)"),
                    u,
                    Some(("read+crc", r1)),
                    Goal::Ratio(1.3),
                    None,
                );
            }
            // what bounds the digest: SHA-256 itself, on every core
            let u = self.best(
                &[
                    xt.clone(),
                    "bench".into(),
                    "--driver".into(),
                    "read-sha256".into(),
                    data(1),
                ],
                &[],
            )?;
            self.push(
                &size,
                "bound of --digest: read + sha256 on every core",
                u,
                Some(("read+crc", r1)),
                Goal::None,
                None,
            );
        }
        self.clean_out()?;
        self.print(&loads);
        let _ = &self.root;
        Ok(())
    }

    fn print(&self, loads: &[String]) {
        println!(
            "returnn-ckpt bench ({} cores; load average before each part: {})",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            loads.join("; ")
        );
        println!(
            "| size | job | wall s | user+sys s | peak RSS MiB | floor s | ratio | goal | TF-Python s (RSS MiB) |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---|---:|");
        for r in &self.rows {
            let (floor, ratio) = match &r.floor {
                Some((what, t)) => (format!("{t:.3} ({what})"), Some(r.ours.wall / t)),
                None => ("-".into(), None),
            };
            let goal = match r.goal {
                Goal::Ratio(g) => {
                    let ok = ratio.is_some_and(|x| x <= g) && r.ours.rss_mib <= 64.0;
                    format!("≤{g:.2}, ≤64 MiB: {}", if ok { "ok" } else { "MISS" })
                }
                Goal::Wall(w) => format!(
                    "≤{:.0} ms: {}",
                    w * 1000.0,
                    if r.ours.wall <= w { "ok" } else { "MISS" }
                ),
                Goal::None => "-".into(),
            };
            println!(
                "| {} | {} | {:.3} | {:.3} | {:.1} | {} | {} | {} | {} |",
                r.size,
                r.job,
                r.ours.wall,
                r.ours.cpu,
                r.ours.rss_mib,
                floor,
                ratio.map_or("-".into(), |x| format!("{x:.2}")),
                goal,
                r.tf.map_or("-".into(), |t| format!("{:.2} ({:.0})", t.wall, t.rss_mib))
            );
        }
        // RSS flatness between the sizes
        if self.opts.sizes.len() >= 2 {
            let lo = format!("{} GiB", self.opts.sizes[0]);
            let hi = format!("{} GiB", self.opts.sizes[self.opts.sizes.len() - 1]);
            println!();
            println!("| job | peak RSS {lo} | peak RSS {hi} | change | flat (±10%) |");
            println!("|---|---:|---:|---:|---|");
            for r in self.rows.iter().filter(|r| r.size == lo) {
                if let Some(h) = self.rows.iter().find(|x| x.size == hi && x.job == r.job) {
                    let ch = h.ours.rss_mib / r.ours.rss_mib - 1.0;
                    println!(
                        "| {} | {:.1} | {:.1} | {:+.0}% | {} |",
                        r.job,
                        r.ours.rss_mib,
                        h.ours.rss_mib,
                        ch * 100.0,
                        if ch.abs() <= 0.10 { "ok" } else { "MISS" }
                    );
                }
            }
        }
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}
