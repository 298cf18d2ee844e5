//! Hostile `.pt` inputs, one test each, under a heap budget (the global allocator is
//! `cap::Cap`; an allocation beyond the budget aborts this test binary). Every case must give a
//! typed error, never a panic or a value.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use std::alloc::System;
use std::sync::Mutex;

use cap::Cap;
use common::{archive, f32_bytes, one_tensor_pickle, P};
use torch_pt::{ErrorKind, PtFile};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);
static SERIAL: Mutex<()> = Mutex::new(());

const BUDGET: usize = 16 << 20;

fn bounded<T>(f: impl FnOnce() -> T) -> T {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ALLOC
        .set_limit(ALLOC.allocated().saturating_add(BUDGET))
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    ALLOC.set_limit(usize::MAX).unwrap();
    match r {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    }
}

fn refuse(bytes: Vec<u8>) -> torch_pt::Error {
    bounded(|| match PtFile::from_bytes(bytes, "hostile.pt") {
        Ok(f) => {
            // must fail on reading at the latest
            let r: Result<(), torch_pt::Error> =
                f.tensors().iter().try_for_each(|t| f.read(t).map(|_| ()));
            r.expect_err("a hostile file read without error")
        }
        Err(e) => e,
    })
}

#[test]
fn budget_is_enforced() {
    bounded(|| {
        let mut v: Vec<u8> = Vec::new();
        assert!(v.try_reserve(BUDGET * 2).is_err());
    });
}

#[test]
fn forbidden_globals() {
    for (m, n) in [
        ("os", "system"),
        ("builtins", "eval"),
        ("posix", "system"),
        ("subprocess", "call"),
    ] {
        let pkl = P::new()
            .global(m, n)
            .str("touch /tmp/pwned")
            .op(b"\x85R")
            .stop();
        let e = refuse(archive(&pkl, &[]));
        assert_eq!(e.kind(), ErrorKind::ForbiddenGlobal, "{m}.{n}: {e}");
        assert_eq!(e.kind().label(), "forbidden_global");
        assert!(e.to_string().contains("hostile.pt"), "{e}");
    }
}

#[test]
fn protocol_4_opcodes() {
    for op in [
        &b"\x95\x10\x00\x00\x00\x00\x00\x00\x00"[..],
        b"\x8c\x02os\x8c\x06system\x93",
        b"\x8c\x01a",
    ] {
        let mut pkl = vec![0x80, 4];
        pkl.extend_from_slice(op);
        pkl.push(b'.');
        let e = refuse(archive(&pkl, &[]));
        assert_eq!(e.kind(), ErrorKind::BadOpcode, "{e}");
        assert_eq!(e.kind().label(), "bad_opcode");
    }
}

#[test]
fn storage_past_the_end_of_the_archive() {
    let st = f32_bytes(&[1.0, 2.0]);
    let mut bytes = archive(&one_tensor_pickle(2), &[("0", &st)]);
    // make the storage's central-directory size 2^31 (and the local header's)
    let z = torch_pt::zip::ZipArchive::parse(&bytes).unwrap();
    let e = z.get("data/0").unwrap().clone();
    let big = (1u32 << 31).to_le_bytes();
    let lh = e.header_offset as usize;
    bytes[lh + 18..lh + 22].copy_from_slice(&big);
    bytes[lh + 22..lh + 26].copy_from_slice(&big);
    let cd = (0..bytes.len() - 4)
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x01, 0x02])
        .unwrap();
    bytes[cd + 20..cd + 24].copy_from_slice(&big);
    bytes[cd + 24..cd + 28].copy_from_slice(&big);
    let e = refuse(bytes);
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e}");
}

#[test]
fn huge_shapes_and_sizes() {
    let st = f32_bytes(&[1.0; 4]);
    for pkl in [
        P::new()
            .tensor(
                "FloatStorage",
                "0",
                4,
                0,
                &[1 << 20, 1 << 20],
                &[1 << 20, 1],
            )
            .stop(),
        P::new()
            .tensor("FloatStorage", "0", 1 << 40, 0, &[1 << 40], &[1])
            .stop(),
        P::new()
            .tensor("FloatStorage", "0", i64::MAX, 0, &[i64::MAX], &[1])
            .stop(),
        P::new()
            .tensor(
                "FloatStorage",
                "0",
                4,
                0,
                &[i64::MAX, i64::MAX],
                &[i64::MAX, 1],
            )
            .stop(),
    ] {
        let e = refuse(archive(&pkl, &[("0", &st)]));
        assert!(
            matches!(e.kind(), ErrorKind::BadTensor | ErrorKind::TooLarge),
            "{e}"
        );
    }
    // a BINUNICODE that claims 4 GiB
    let e = refuse(archive(
        &[0x80, 2, b'X', 0xff, 0xff, 0xff, 0xff, b'a', b'.'],
        &[],
    ));
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e}");
    // a central directory claiming 65535 entries in 46 bytes
    let mut bytes = archive(&one_tensor_pickle(2), &[("0", &st[..8])]);
    let n = bytes.len();
    bytes[n - 12..n - 10].copy_from_slice(&0xfffeu16.to_le_bytes());
    bytes[n - 14..n - 12].copy_from_slice(&0xfffeu16.to_le_bytes());
    let e = refuse(bytes);
    assert_eq!(e.kind(), ErrorKind::BadZip, "{e}");
}

#[test]
fn deep_nesting() {
    // 100,000 nested MARKs, lists and tuples
    let mut marks = vec![0x80, 2];
    marks.extend(std::iter::repeat_n(b'(', 100_000));
    marks.push(b'.');
    assert_eq!(refuse(archive(&marks, &[])).kind(), ErrorKind::TooDeep);
    let mut lists = vec![0x80, 2];
    lists.extend(std::iter::repeat_n(b']', 100_000));
    lists.extend(std::iter::repeat_n(b'a', 99_999));
    lists.push(b'.');
    assert_eq!(refuse(archive(&lists, &[])).kind(), ErrorKind::TooDeep);
    let mut tuples = vec![0x80, 2, b'N'];
    tuples.extend(std::iter::repeat_n(0x85, 100_000));
    tuples.push(b'.');
    assert_eq!(refuse(archive(&tuples, &[])).kind(), ErrorKind::TooDeep);
}

#[test]
fn memo_abuse() {
    // billion laughs: each level a tuple of 8 references to the level below
    let mut p = vec![0x80, 2, b'N', b'q', 0];
    for level in 1..=30u8 {
        p.push(b'(');
        for _ in 0..8 {
            p.extend_from_slice(&[b'h', level - 1]);
        }
        p.extend_from_slice(&[b't', b'q', level]);
    }
    p.push(b'.');
    let e = refuse(archive(&p, &[]));
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    // a self-containing list
    let e = refuse(archive(&[0x80, 2, b']', b'q', 0, b'h', 0, b'a', b'.'], &[]));
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
}

#[test]
fn truncated_at_every_length() {
    let st = f32_bytes(&[1.0, 2.0, 3.0]);
    let full = archive(&one_tensor_pickle(3), &[("0", &st)]);
    assert!(PtFile::from_bytes(full.clone(), "ok.pt").is_ok());
    for n in 0..full.len() {
        let e = refuse(full[..n].to_vec());
        assert!(
            matches!(
                e.kind(),
                ErrorKind::NotZip | ErrorKind::Truncated | ErrorKind::BadZip
            ),
            "length {n}: {e}"
        );
    }
}

#[test]
fn every_flipped_payload_bit_is_caught() {
    let st = f32_bytes(&[1.0, 2.0, 3.0]);
    let full = archive(&one_tensor_pickle(3), &[("0", &st)]);
    let z = torch_pt::zip::ZipArchive::parse(&full).unwrap();
    for e in z.entries() {
        for i in 0..e.size {
            for bit in [0u8, 7] {
                let mut b = full.clone();
                b[(e.data_offset + i) as usize] ^= 1 << bit;
                let err = refuse(b);
                assert_eq!(
                    err.kind(),
                    ErrorKind::Checksum,
                    "{} byte {i}: {err}",
                    e.name
                );
            }
        }
    }
}

#[test]
fn any_corruption_is_an_error_or_a_consistent_value() {
    // flip every byte of a small file (headers included): never a panic, bounded memory
    let st = f32_bytes(&[1.0, 2.0, 3.0]);
    let full = archive(&one_tensor_pickle(3), &[("0", &st)]);
    for i in 0..full.len() {
        let mut b = full.clone();
        b[i] ^= 0x5a;
        bounded(|| {
            if let Ok(f) = PtFile::from_bytes(b, "x.pt") {
                for t in f.tensors() {
                    if let Ok(v) = f.read(&t) {
                        assert_eq!(Some(v.len() as u64), t.info.nbytes());
                    }
                }
            }
        });
    }
}
