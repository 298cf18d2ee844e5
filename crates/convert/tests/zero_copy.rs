//! The zero-copy conversions (`copy_file_range` + CRC on another thread) write exactly the
//! bytes of the buffered fallback (forced with `CopyMode::Buffered`) and of the streaming path
//! (a memory-mapped checkpoint, which never copies file to file), for every fixture and for
//! multi-chunk tensors; a corrupted input fails the conversion and leaves no output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use convert::select::Selection;
use convert::to_safetensors::{to_safetensors_with, Options};
use convert::to_tf::{checkpoint_to_tf_with, safetensors_to_tf_with};
use convert::transfer::{CopyMode, Transfer};
use tf_bundle::write::{data_file_name, index_file_name, BundleWriter};
use tf_bundle::{Checkpoint, DType, OpenOptions};

fn prefixes() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&root).unwrap() {
        let dir = e.unwrap().path();
        let Ok(b) = std::fs::read(dir.join("manifest.json")) else {
            continue;
        };
        let m: serde_json::Value = serde_json::from_slice(&b).unwrap();
        for c in m["checkpoints"].as_array().unwrap() {
            if c["format"] != "pt" {
                out.push(dir.join(c["prefix"].as_str().unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn bundle(prefix: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(index_file_name(prefix)).unwrap(),
        std::fs::read(data_file_name(prefix, 0, 1)).unwrap(),
    )
}

const MODES: [CopyMode; 2] = [CopyMode::Auto, CopyMode::Buffered];

/// All three conversions of `prefix`, in each mode and through a memory map (no file-to-file
/// copy at all): the outputs must be identical.
fn check(prefix: &Path, dir: &Path, tag: &str) {
    let sel = Selection::default();
    let mut st_outputs = Vec::new();
    let mut tf_outputs = Vec::new();
    let mut back_outputs = Vec::new();
    for (k, open) in [false, true].into_iter().enumerate() {
        let ck = Checkpoint::open_with(
            prefix,
            &OpenOptions {
                mmap: open,
                ..OpenOptions::default()
            },
        )
        .unwrap();
        for mode in MODES {
            let t = Transfer { copy: mode };
            let st = dir.join(format!("{tag}-{k}-{mode:?}.safetensors"));
            to_safetensors_with(
                &ck,
                &st,
                &Options {
                    skip_unreadable: true,
                    ..Options::default()
                },
                &t,
                &mut |_| {},
            )
            .unwrap();
            st_outputs.push(std::fs::read(&st).unwrap());
            let tf = dir.join(format!("{tag}-{k}-{mode:?}-tf"));
            checkpoint_to_tf_with(&ck, &tf, &sel, false, &t, &mut |_| {}).unwrap();
            tf_outputs.push(bundle(&tf));
            let back = dir.join(format!("{tag}-{k}-{mode:?}-back"));
            safetensors_to_tf_with(&st, &back, &sel, false, &t, &mut |_| {}).unwrap();
            back_outputs.push(bundle(&back));
        }
    }
    assert!(
        st_outputs.iter().all(|o| o == &st_outputs[0]),
        "{tag}: safetensors differ"
    );
    assert!(
        tf_outputs.iter().all(|o| o == &tf_outputs[0]),
        "{tag}: --to tf differs"
    );
    assert!(
        back_outputs.iter().all(|o| o == &back_outputs[0]),
        "{tag}: safetensors -> tf differs"
    );
    // and the bundle written from the checkpoint reads back with every CRC good
    let tf = dir.join(format!("{tag}-0-Auto-tf"));
    assert!(
        Checkpoint::open(&tf).unwrap().verify_all().is_empty(),
        "{tag}"
    );
    let back = dir.join(format!("{tag}-0-Auto-back"));
    assert!(
        Checkpoint::open(&back).unwrap().verify_all().is_empty(),
        "{tag}"
    );
}

#[test]
fn every_fixture_converts_byte_identically_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    for (i, p) in prefixes().iter().enumerate() {
        // V1 checkpoints cannot be memory-mapped; they take the streaming path anyway
        if Checkpoint::open(p).unwrap().format() == tf_bundle::Format::V1 {
            continue;
        }
        check(p, dir.path(), &format!("f{i}"));
    }
}

fn big(dir: &Path) -> PathBuf {
    let prefix = dir.join("big");
    let mut w = BundleWriter::create(&prefix).unwrap();
    let data: Vec<u8> = (0..2_500_003u32 * 4)
        .map(|i| (i * 31 % 253) as u8)
        .collect();
    w.add_bytes("w", DType::Float32, &[2_500_003], &data)
        .unwrap();
    w.add_bytes("b", DType::BFloat16, &[7], &[1; 14]).unwrap();
    w.add_bytes("e", DType::Float32, &[0, 3], &[]).unwrap();
    w.add_strings("s", &[1], &[b"text".as_slice()]).unwrap();
    w.finish().unwrap();
    prefix
}

#[test]
fn multi_chunk_tensors_convert_byte_identically() {
    let dir = tempfile::tempdir().unwrap();
    let p = big(dir.path());
    check(&p, dir.path(), "big");
}

#[test]
fn a_corrupted_input_fails_every_zero_copy_conversion_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src_dir = dir.path().join("src");
    std::fs::create_dir(&src_dir).unwrap();
    let p = big(&src_dir);
    let e = Checkpoint::open(&p)
        .unwrap()
        .bundle()
        .unwrap()
        .entry(b"w")
        .unwrap()
        .entry
        .clone()
        .unwrap();
    let data = data_file_name(&p, 0, 1);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[e.offset as usize + 5_000_000] ^= 4;
    std::fs::write(&data, bytes).unwrap();
    let ck = Checkpoint::open(&p).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    for mode in MODES {
        let t = Transfer { copy: mode };
        let err = to_safetensors_with(
            &ck,
            &out_dir.join("x.safetensors"),
            &Options {
                skip_unreadable: true,
                ..Options::default()
            },
            &t,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        let err = checkpoint_to_tf_with(
            &ck,
            &out_dir.join("x"),
            &Selection::default(),
            false,
            &t,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("checksum") && err.to_string().contains('w'),
            "{err}"
        );
        assert_eq!(
            std::fs::read_dir(&out_dir).unwrap().count(),
            0,
            "no output, no temp file"
        );
    }
}
