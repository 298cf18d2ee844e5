//! The parallel jobs (verify, digest, stats) give exactly the serial results, in the serial
//! order, for any thread count: on every fixture and on a written checkpoint with multi-chunk
//! tensors; a corrupted chunk is reported for its tensor only; the streaming CRC contract
//! (nothing handed out as `last` before every CRC passed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use tf_bundle::elem::Stats;
use tf_bundle::par::Jobs;
use tf_bundle::write::BundleWriter;
use tf_bundle::{digest, elem, verify, Checkpoint, DType};

fn fixture_prefixes() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&root).unwrap() {
        let dir = e.unwrap().path();
        let Ok(bytes) = std::fs::read(dir.join("manifest.json")) else {
            continue;
        };
        let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        for c in m["checkpoints"].as_array().unwrap() {
            if c["format"] != "pt" {
                out.push(dir.join(c["prefix"].as_str().unwrap()));
            }
        }
    }
    out.sort();
    assert!(out.len() >= 15);
    out
}

fn same_summary(a: &Option<elem::Summary>, b: &Option<elem::Summary>) -> bool {
    let bits = |s: &elem::Summary| {
        [s.min, s.max, s.mean, s.stddev, s.rms]
            .map(|v| if v.is_nan() { u64::MAX } else { v.to_bits() })
    };
    match (a, b) {
        (Some(x), Some(y)) => bits(x) == bits(y),
        (None, None) => true,
        _ => false,
    }
}

/// The serial references: the whole-tensor reads of the reader.
fn check_against_serial(ck: &Checkpoint, ctx: &str) {
    let serial_verify: Vec<String> = ck.verify_all().iter().map(|e| e.to_string()).collect();
    let want_digest: Vec<Result<[u8; 32], String>> = ck
        .tensors()
        .iter()
        .map(|t| digest::digest_tensor(ck, &t.name).map_err(|e| e.to_string()))
        .collect();
    let want_stats: Vec<Result<Option<elem::Summary>, String>> = ck
        .tensors()
        .iter()
        .map(|t| {
            if t.dtype == DType::String {
                return ck.read(&t.name).map(|_| None).map_err(|e| e.to_string());
            }
            ck.read_bytes(&t.name)
                .map(|b| Stats::of_bytes(t.dtype, &b).and_then(|s| s.summary()))
                .map_err(|e| e.to_string())
        })
        .collect();
    for threads in [1, 2, 3, 5] {
        let jobs = Jobs { threads };
        let done = std::sync::atomic::AtomicU64::new(0);
        let progress = |n: u64| {
            done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        };
        let v: Vec<String> = verify::verify_all(ck, jobs, &progress)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(v, serial_verify, "{ctx}: verify, {threads} threads");
        assert_eq!(
            done.load(std::sync::atomic::Ordering::Relaxed),
            tf_bundle::scan::total_bytes(ck),
            "{ctx}: progress adds up to the total"
        );
        let d: Vec<Result<[u8; 32], String>> = tf_bundle::scan::digest_all(ck, jobs, &|_| {})
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect();
        assert_eq!(d, want_digest, "{ctx}: digest, {threads} threads");
        let s = tf_bundle::scan::stats_all(ck, jobs, &|_| {});
        assert_eq!(s.len(), want_stats.len());
        for ((got, want), info) in s.iter().zip(&want_stats).zip(ck.tensors()) {
            match (got, want) {
                (Ok(g), Ok(w)) => assert!(
                    same_summary(g, w),
                    "{ctx}: {}: {g:?} vs {w:?} ({threads} threads)",
                    info.name
                ),
                (Err(g), Err(w)) => assert_eq!(&g.to_string(), w, "{ctx}: {}", info.name),
                _ => panic!("{ctx}: {}: {got:?} vs {want:?}", info.name),
            }
        }
        let both = tf_bundle::scan::scan_all(
            ck,
            tf_bundle::scan::Want {
                stats: true,
                digest: true,
            },
            jobs,
            &|_| {},
        );
        for ((b, s), d) in both.iter().zip(&s).zip(&want_digest) {
            if let (Ok(b), Ok(s), Ok(d)) = (b, s, d) {
                assert!(same_summary(&b.stats, s), "{ctx}");
                assert_eq!(b.sha256.as_ref(), Some(d), "{ctx}");
            }
        }
    }
}

#[test]
fn every_fixture_parallel_equals_serial() {
    for p in fixture_prefixes() {
        let ck = Checkpoint::open(&p).unwrap();
        check_against_serial(&ck, &p.display().to_string());
    }
}

fn lcg_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

fn f32_bytes(n: usize, seed: u64) -> Vec<u8> {
    lcg_bytes(n, seed)
        .chunks(1)
        .flat_map(|c| (f32::from(c[0]) / 7.0 - 10.0).to_le_bytes())
        .collect()
}

/// A checkpoint with tensors of several chunks (not multiples of the chunk size), bf16, ints,
/// an empty tensor, a scalar and a string tensor.
fn write_big(dir: &Path) -> PathBuf {
    let prefix = dir.join("big");
    let mut w = BundleWriter::create(&prefix).unwrap();
    w.add_bytes("a/w", DType::Float32, &[917_505], &f32_bytes(917_505, 1))
        .unwrap();
    w.add_bytes(
        "b/bf16",
        DType::BFloat16,
        &[1_200_001],
        &lcg_bytes(2_400_002, 2),
    )
    .unwrap();
    w.add_bytes("c/int8", DType::Int8, &[3, 1000], &lcg_bytes(3000, 3))
        .unwrap();
    w.add_bytes("d/empty", DType::Float32, &[0, 4], &[])
        .unwrap();
    w.add_bytes("e/step", DType::Int64, &[], &7i64.to_le_bytes())
        .unwrap();
    w.add_strings("f/s", &[2], &[b"x".as_slice(), b"yz"])
        .unwrap();
    w.add_bytes(
        "g/f64",
        DType::Float64,
        &[300_000],
        &lcg_bytes(2_400_000, 4),
    )
    .unwrap();
    w.finish().unwrap();
    prefix
}

#[test]
fn multi_chunk_tensors_parallel_equals_serial_and_corruption_is_per_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = write_big(dir.path());
    let ck = Checkpoint::open(&prefix).unwrap();
    let l = ck.layout("a/w").unwrap().unwrap();
    assert!(l.num_chunks() >= 4, "{}", l.num_chunks());
    check_against_serial(&ck, "big");

    // flip a byte in the second chunk of a/w
    let entry = ck
        .bundle()
        .unwrap()
        .entry(b"a/w")
        .unwrap()
        .entry
        .clone()
        .unwrap();
    drop(ck);
    let data = tf_bundle::write::data_file_name(&prefix, 0, 1);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[entry.offset as usize + (1 << 20) + 5] ^= 1;
    std::fs::write(&data, bytes).unwrap();
    let ck = Checkpoint::open(&prefix).unwrap();
    check_against_serial(&ck, "big corrupted");
    for threads in [1, 2, 4] {
        let errs = verify::verify_all(&ck, Jobs { threads }, &|_| {});
        assert_eq!(errs.len(), 1, "{errs:?}");
        let e = errs[0].to_string();
        assert!(e.contains("a/w") && e.contains("checksum"), "{e}");
        let s = tf_bundle::scan::stats_all(&ck, Jobs { threads }, &|_| {});
        assert!(s[0].is_err());
        assert!(s[1..].iter().all(|r| r.is_ok()));
    }
    // the streaming contract: the corrupted tensor never reaches `last`
    let l = ck.layout("a/w").unwrap().unwrap();
    let mut buf = Vec::new();
    let mut handed = Vec::new();
    let r = l.for_each_chunk(&mut buf, |off, b, last| {
        handed.push((off, b.len(), last));
        Ok::<(), tf_bundle::Error>(())
    });
    assert!(r.unwrap_err().to_string().contains("checksum"));
    assert!(handed.iter().all(|h| !h.2), "{handed:?}");
    // a good tensor: chunks on the fixed grid, exactly one `last`, bytes as read whole
    let l = ck.layout("b/bf16").unwrap().unwrap();
    let whole = ck.read_bytes("b/bf16").unwrap();
    let mut got = Vec::new();
    let mut lasts = 0;
    l.for_each_chunk(&mut buf, |off, b, last| {
        assert_eq!(off, got.len() as u64);
        assert!(off % tf_bundle::stream::CHUNK as u64 == 0);
        got.extend_from_slice(b);
        lasts += usize::from(last);
        Ok::<(), tf_bundle::Error>(())
    })
    .unwrap();
    assert_eq!((got.as_slice(), lasts), (&whole[..], 1));
    assert!(buf.capacity() <= tf_bundle::stream::CHUNK * 2);
}

#[test]
fn partitioned_tensors_stream_in_order_without_assembly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut streamed = 0;
    for p in fixture_prefixes().into_iter().filter(|p| {
        p.starts_with(root.join("tf1_partitioned_slices"))
            || p.starts_with(root.join("tf1_sharded_3dev"))
    }) {
        let ck = Checkpoint::open(&p).unwrap();
        for t in ck
            .tensors()
            .iter()
            .filter(|t| t.sliced && t.dtype != DType::String)
        {
            let Ok(whole) = ck.read_bytes(&t.name) else {
                continue;
            };
            if let Some(l) = ck.layout(&t.name).unwrap() {
                assert!(l.segments().len() > 1, "{}", t.name);
                let mut got = Vec::new();
                l.for_each_chunk(&mut Vec::new(), |_, b, _| {
                    got.extend_from_slice(b);
                    Ok::<(), tf_bundle::Error>(())
                })
                .unwrap();
                assert_eq!(got, whole.as_ref(), "{}", t.name);
                assert_eq!(
                    l.stored_crc(),
                    tf_bundle::crc::crc32c(&whole),
                    "{}: combined CRC of the slices",
                    t.name
                );
                streamed += 1;
            }
        }
    }
    assert!(streamed >= 1, "no partitioned fixture tensor was streamed");
}
