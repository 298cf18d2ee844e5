//! Corruption sweep (issue 6): for real fixture bundles, flip bits of the `.index` and of each
//! `.data` file and truncate them, and check every mutant against the unmodified checkpoint:
//! opening fails, or every tensor read either fails or returns exactly the original value,
//! and the listing (names, dtypes, shapes, problem keys) is unchanged. Never a panic, never a
//! different value without an error.
//!
//! Small files (≤ `FULL_LIMIT` bytes) get every bit flipped and every truncation; larger files
//! get a deterministic sample of `SAMPLE_FLIPS` distinct flips and `SAMPLE_TRUNCS` truncations
//! (always including the first and last bytes). The test prints its counts per file: "read
//! errors" are mutants that open but fail to read a tensor the original reads; "unchanged" are
//! mutants whose every tensor reads exactly as before (the flip hit bytes no tensor depends
//! on, such as the table footer's padding).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use tf_bundle::{Checkpoint, Tensor, TensorInfo};

/// Files up to this size get every bit flipped and every truncation.
const FULL_LIMIT: usize = 8192;
/// Flips / truncations sampled from larger files.
const SAMPLE_FLIPS: usize = 5000;
const SAMPLE_TRUNCS: usize = 400;

/// (case directory, checkpoint prefix) of the swept fixtures.
const CASES: &[(&str, &str)] = &[
    ("rawop_exotic_dtypes", "raw_savev2"),
    ("tf1_sharded_3dev", "sharded.ckpt"),
    ("tf1_partitioned_slices", "partitioned.ckpt"),
    ("returnn_train_nativelstm", "net-model/network.003"),
    ("tf2_object_keras", "ckpt-2"),
    ("tf1_saver_dtypes", "model.ckpt"),
];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Index and shard bytes of a fixture checkpoint.
fn load(case: &str, prefix: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let p = fixtures().join(case).join(prefix);
    let index = std::fs::read(format!("{}.index", p.display())).unwrap();
    let dir = p.parent().unwrap();
    let stem = p.file_name().unwrap().to_string_lossy().into_owned();
    let mut data: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|q| {
            q.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{stem}.data-"))
        })
        .collect();
    data.sort();
    assert!(!data.is_empty(), "{case}: no data files");
    let shards = data.iter().map(|q| std::fs::read(q).unwrap()).collect();
    (index, shards)
}

/// What a checkpoint says: its listing, its problem keys, and every tensor read.
#[derive(PartialEq)]
struct View {
    tensors: Vec<TensorInfo>,
    problems: Vec<String>,
    values: Vec<Result<Tensor, String>>,
}

fn view(index: &[u8], shards: Vec<Vec<u8>>) -> Result<View, String> {
    let c = Checkpoint::from_memory(index, shards).map_err(|e| e.to_string())?;
    let values = c
        .tensors()
        .iter()
        .map(|t| c.read(&t.name).map_err(|e| e.to_string()))
        .collect();
    Ok(View {
        tensors: c.tensors().to_vec(),
        problems: c.problems().iter().map(|p| p.name.clone()).collect(),
        values,
    })
}

#[derive(Default, Debug)]
struct Counts {
    tried: usize,
    open_errors: usize,
    read_errors: usize,
    unchanged: usize,
}

enum Outcome {
    OpenError,
    ReadError,
    Unchanged,
}

/// Classifies a mutant against the original; `Err` describes a violation.
fn judge(orig: &View, index: &[u8], shards: Vec<Vec<u8>>) -> Result<Outcome, String> {
    let got =
        catch_unwind(AssertUnwindSafe(|| view(index, shards))).map_err(|_| "PANIC".to_string())?;
    let Ok(v) = got else {
        return Ok(Outcome::OpenError);
    };
    if v.tensors != orig.tensors {
        return Err(format!(
            "listing changed without an error: {:?} vs {:?}",
            v.tensors
                .iter()
                .map(|t| (&t.name, t.dtype, &t.shape))
                .collect::<Vec<_>>(),
            orig.tensors
                .iter()
                .map(|t| (&t.name, t.dtype, &t.shape))
                .collect::<Vec<_>>()
        ));
    }
    if v.problems != orig.problems {
        return Err(format!(
            "problem keys changed: {:?} vs {:?}",
            v.problems, orig.problems
        ));
    }
    let mut any_error = false;
    for ((info, new), old) in orig.tensors.iter().zip(&v.values).zip(&orig.values) {
        match (new, old) {
            (Err(_), Ok(_)) => any_error = true,
            (Err(_), Err(_)) => {}
            (Ok(n), Ok(o)) if n == o => {}
            (Ok(_), Ok(_)) => {
                return Err(format!("{}: a different value without an error", info.name))
            }
            (Ok(_), Err(e)) => {
                return Err(format!(
                    "{}: a value where the original gives an error ({e})",
                    info.name
                ))
            }
        }
    }
    Ok(if any_error {
        Outcome::ReadError
    } else {
        Outcome::Unchanged
    })
}

/// Deterministic positions: all of `0..n` when `full` or `n <= k`, else `k` distinct ones
/// chosen by a fixed LCG (both ends always included), sorted.
fn positions(n: usize, full: bool, k: usize, seed: u64) -> Vec<usize> {
    if full || n <= k {
        return (0..n).collect();
    }
    let mut s = seed;
    let mut set = std::collections::BTreeSet::from([0, n - 1]);
    while set.len() < k {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        set.insert((s >> 33) as usize % n);
    }
    set.into_iter().collect()
}

/// Sweeps one file (`which` = 0: the index, i ≥ 1: shard i-1) with `mutate` over `points`;
/// splits the work over two threads.
fn sweep_file(
    orig: &View,
    index: &[u8],
    shards: &[Vec<u8>],
    which: usize,
    points: &[usize],
    mutate: fn(&mut Vec<u8>, usize),
) -> (Counts, Vec<String>) {
    let half = points.len() / 2;
    let (a, b) = points.split_at(half);
    let run = |pts: &[usize]| {
        let mut counts = Counts::default();
        let mut bad = Vec::new();
        for &p in pts {
            let mut idx = index.to_vec();
            let mut sh = shards.to_vec();
            let target = if which == 0 {
                &mut idx
            } else {
                &mut sh[which - 1]
            };
            mutate(target, p);
            counts.tried += 1;
            match judge(orig, &idx, sh) {
                Ok(Outcome::OpenError) => counts.open_errors += 1,
                Ok(Outcome::ReadError) => counts.read_errors += 1,
                Ok(Outcome::Unchanged) => counts.unchanged += 1,
                Err(e) => bad.push(format!("at {p}: {e}")),
            }
        }
        (counts, bad)
    };
    let ((c1, mut b1), (c2, b2)) = std::thread::scope(|s| {
        let h = s.spawn(|| run(b));
        let r1 = run(a);
        (r1, h.join().unwrap())
    });
    b1.extend(b2);
    (
        Counts {
            tried: c1.tried + c2.tried,
            open_errors: c1.open_errors + c2.open_errors,
            read_errors: c1.read_errors + c2.read_errors,
            unchanged: c1.unchanged + c2.unchanged,
        },
        b1,
    )
}

// Same signature as `truncate`: both are `fn(&mut Vec<u8>, usize)` mutators.
#[allow(clippy::ptr_arg)]
fn flip(buf: &mut Vec<u8>, bit: usize) {
    buf[bit / 8] ^= 1 << (bit % 8);
}

fn truncate(buf: &mut Vec<u8>, len: usize) {
    buf.truncate(len);
}

#[test]
fn corruption_sweep_over_fixtures() {
    // Panics are caught and reported as violations; keep their messages out of the output.
    std::panic::set_hook(Box::new(|_| {}));
    let mut violations = Vec::new();
    let mut total = Counts::default();
    let start = std::time::Instant::now();
    for &(case, prefix) in CASES {
        let (index, shards) = load(case, prefix);
        let orig = view(&index, shards.clone()).expect("the fixture opens");
        assert!(
            orig.values.iter().any(Result::is_ok),
            "{case}: nothing readable"
        );
        let names: Vec<String> = std::iter::once(format!("{prefix}.index"))
            .chain((0..shards.len()).map(|i| format!("{prefix}.data-{i:05}")))
            .collect();
        for (which, name) in names.iter().enumerate() {
            let len = if which == 0 {
                index.len()
            } else {
                shards[which - 1].len()
            };
            let full = len <= FULL_LIMIT;
            let seed = (which as u64 + 1) * 0x9e37_79b9 + len as u64;
            let bits = positions(len * 8, full, SAMPLE_FLIPS, seed);
            let cuts = positions(len, full, SAMPLE_TRUNCS, seed ^ 0x5555);
            for (kind, pts, f) in [
                ("flips", &bits, flip as fn(&mut Vec<u8>, usize)),
                ("truncations", &cuts, truncate as fn(&mut Vec<u8>, usize)),
            ] {
                let (c, bad) = sweep_file(&orig, &index, &shards, which, pts, f);
                println!(
                    "{case}/{name}: {len} bytes, {kind}{}: {} tried, {} open errors, {} read errors, {} unchanged values",
                    if full { " (all)" } else { " (sampled)" },
                    c.tried,
                    c.open_errors,
                    c.read_errors,
                    c.unchanged
                );
                for b in bad.iter().take(5) {
                    violations.push(format!("{case}/{name} {kind} {b}"));
                }
                if bad.len() > 5 {
                    violations.push(format!("{case}/{name} {kind}: {} more", bad.len() - 5));
                }
                total.tried += c.tried;
                total.open_errors += c.open_errors;
                total.read_errors += c.read_errors;
                total.unchanged += c.unchanged;
            }
        }
    }
    let _ = std::panic::take_hook();
    println!(
        "corruption sweep: {} mutants in {:.1} s: {} open errors, {} read errors, {} unchanged values, {} violations",
        total.tried,
        start.elapsed().as_secs_f64(),
        total.open_errors,
        total.read_errors,
        total.unchanged,
        violations.len()
    );
    assert!(
        violations.is_empty(),
        "mutants that panicked or changed a value without an error:\n{}",
        violations.join("\n")
    );
    assert!(total.tried >= 5000);
    assert!(total.open_errors > 0 && total.read_errors > 0);
}

#[test]
fn positions_are_deterministic_and_cover_ends() {
    let a = positions(100_000, false, 5000, 7);
    let b = positions(100_000, false, 5000, 7);
    assert_eq!(a, b);
    assert_eq!(a.first(), Some(&0));
    assert_eq!(a.last(), Some(&99_999));
    assert_eq!(a.len(), 5000);
    assert_eq!(positions(10, true, 5000, 7), (0..10).collect::<Vec<_>>());
}
