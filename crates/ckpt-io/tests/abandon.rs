//! `abandon_outputs` (what the CLI's signal thread calls): every live temp file and pending
//! output is deleted, committed files stay, and afterwards nothing can be created or
//! committed. One test in its own binary, because abandoning closes the process-wide registry.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::io::Write;

use ckpt_io::{abandon_outputs, live_outputs, AtomicFile, PendingOutput, TempStyle};

#[test]
fn abandon_removes_live_temp_files_and_closes_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let mut done = AtomicFile::create(d.join("done.bin")).unwrap();
    done.write_all(b"complete").unwrap();
    done.commit().unwrap();

    let mut a = AtomicFile::create(d.join("a.safetensors")).unwrap();
    a.write_all(b"partial").unwrap();
    let b = AtomicFile::create_with(d.join("b.index"), TempStyle::TfTempstate).unwrap();
    std::fs::write(d.join("b.data-00000-of-00001"), b"data").unwrap();
    let pending = PendingOutput::new(d.join("b.data-00000-of-00001")).unwrap();
    let released = PendingOutput::new(d.join("done.bin")).unwrap();
    drop(released); // no longer pending: must survive
    assert_eq!(live_outputs(), 3);
    let (ta, tb) = (a.temp_path().to_path_buf(), b.temp_path().to_path_buf());
    assert!(ta.exists() && tb.exists());

    let mut removed = abandon_outputs();
    removed.sort();
    let mut want = vec![ta.clone(), tb.clone(), d.join("b.data-00000-of-00001")];
    want.sort();
    assert_eq!(removed, want);
    assert_eq!(live_outputs(), 0);

    // Only the committed file is left.
    let names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["done.bin"]);

    // A commit after the abandon fails and leaves nothing; so does a new temp file.
    let e = a.commit().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::Interrupted);
    assert!(!d.join("a.safetensors").exists());
    drop(b);
    drop(pending);
    let e = AtomicFile::create(d.join("c.bin")).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::Interrupted);
    assert!(PendingOutput::new(d.join("done.bin")).is_err());
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 1);
}
