//! One row per [oracle] statement of docs/returnn-engine.md §2 (file naming, path
//! normalisation, epoch from a file name).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use model_files::{
    epoch_model_filename, get_checkpoint_filepattern, model_epoch_from_filename, MemFs,
};

#[test]
fn epoch_model_filename_cases() {
    let rows: &[(&str, i64, bool, &str)] = &[
        ("net-model/network", 1, false, "net-model/network.001"),
        ("net-model/network", 12, false, "net-model/network.012"),
        ("net-model/network", 999, false, "net-model/network.999"),
        ("net-model/network", 1000, false, "net-model/network.1000"),
        ("net-model/network", 1234, false, "net-model/network.1234"),
        ("net-model/network", 0, false, "net-model/network.000"),
        ("net-model/network", -1, false, "net-model/network.-01"),
        ("net-model/network", -123, false, "net-model/network.-123"),
        (
            "net-model/network",
            2,
            true,
            "net-model/network.pretrain.002",
        ),
        ("net-model/", 5, false, "net-model/.005"),
        ("", 5, false, ".005"),
    ];
    for (model, epoch, pretrain, want) in rows {
        assert_eq!(
            epoch_model_filename(model, *epoch, *pretrain),
            *want,
            "{model} {epoch} {pretrain}"
        );
    }
}

#[test]
fn checkpoint_filepattern_cases() {
    let rows: &[(&str, &str)] = &[
        ("x/network.003.meta", "x/network.003"),
        ("x/network.003.index", "x/network.003"),
        ("x/network.003.pt", "x/network.003"),
        (
            "x/network.003.data-00000-of-00001",
            "x/network.003.data-00000-of-00001",
        ),
        ("x/network.003.opt.pt", "x/network.003.opt"),
        ("x/network.003.meta.index", "x/network.003.meta"),
        ("x/network.003.META", "x/network.003.META"),
        ("x/network.003.safetensors", "x/network.003.safetensors"),
        ("x/network.003.orbax", "x/network.003.orbax"),
        (".meta", ""),
        ("x/network.003", "x/network.003"),
        ("", ""),
    ];
    for (input, want) in rows {
        assert_eq!(get_checkpoint_filepattern(input), *want, "{input}");
    }
}

#[test]
fn epoch_from_filename_cases() {
    let fs = MemFs::new();
    let rows: &[(&str, Option<u64>)] = &[
        ("network.003.meta", Some(3)),
        ("network.003.data-00000-of-00001", Some(3)),
        ("model.12.34", Some(34)),
        ("network.1e3", Some(1)),
        ("network.0042", Some(42)),
        ("network.007.crash_12", Some(7)),
        ("network.007.broken", Some(7)),
        ("network.pretrain.002", Some(2)),
        (".5", Some(5)),
        ("run.42/model", None),
        ("network-010", None),
        ("network_010", None),
        ("model.ckpt-1000", None),
        ("network.best", None),
        ("x/net.1000", Some(1000)),
        ("network.4294967296", Some(4294967296)),
        ("a.b/c.d.17", Some(17)),
    ];
    for (name, want) in rows {
        assert_eq!(
            model_epoch_from_filename(&fs, name).unwrap(),
            *want,
            "{name}"
        );
    }
}

#[test]
fn epoch_zero_in_filename() {
    let fs = MemFs::new();
    for name in ["network.000", "x/network.0", "network.000.index"] {
        let e = model_epoch_from_filename(&fs, name).unwrap_err();
        assert_eq!(e.kind_label(), "epoch_zero_in_filename", "{name}");
    }
    let e = model_epoch_from_filename(&fs, "network.123456789012345678901234567890").unwrap_err();
    assert_eq!(e.kind_label(), "epoch_overflow");
}

#[test]
fn symlink_rules() {
    let mut fs = MemFs::new();
    fs.file("m/network.042.meta", 1)
        .file("m/network.042.index", 1)
        .symlink("m/network.best.meta", "network.042.meta")
        .symlink("m/network.best.index", "network.042.index")
        .symlink("m/bad.meta", "network.042.index")
        .file("m/network.042.pt", 1)
        .symlink("m/torch.best.pt", "network.042.pt")
        .symlink("m/dangling.meta", "network.099.meta")
        .symlink("m/only_index.index", "network.042.index");
    // symlink_meta_best: the prefix follows the .meta link (relative one-level link works,
    // only the basename is parsed afterwards).
    assert_eq!(
        model_epoch_from_filename(&fs, "m/network.best").unwrap(),
        Some(42)
    );
    // symlink_meta_best_given_with_meta: with the suffix, `network.best.meta.meta` is checked.
    assert_eq!(
        model_epoch_from_filename(&fs, "m/network.best.meta").unwrap(),
        None
    );
    assert_eq!(
        model_epoch_from_filename(&fs, get_checkpoint_filepattern("m/network.best.meta")).unwrap(),
        Some(42)
    );
    // symlink_index_not_followed
    assert_eq!(
        model_epoch_from_filename(&fs, "m/only_index").unwrap(),
        None
    );
    // symlink_wrong_ext
    let e = model_epoch_from_filename(&fs, "m/bad").unwrap_err();
    assert_eq!(e.kind_label(), "symlink_wrong_ext");
    assert!(e.to_string().contains("strange? m/bad, .meta"), "{e}");
    // .pt links are followed too
    assert_eq!(
        model_epoch_from_filename(&fs, "m/torch.best").unwrap(),
        Some(42)
    );
    // A dangling .meta link does not exist: ignored.
    assert_eq!(model_epoch_from_filename(&fs, "m/dangling").unwrap(), None);
}

#[test]
fn symlink_chain_is_resolved_against_cwd() {
    // The raw target is used as the new file name, so the next hop is checked relative to
    // the current directory, not the link's directory.
    let mut fs = MemFs::new();
    fs.file("m/network.007.meta", 1)
        .symlink("m/b.meta", "network.007.meta")
        .symlink("m/a.meta", "b.meta");
    // m/a.meta -> b.meta (exists via the link dir); next check is "b.meta" in the CWD,
    // which does not exist, so the chain stops at "b" (no epoch).
    assert_eq!(model_epoch_from_filename(&fs, "m/a").unwrap(), None);
    // With a same-named link in the CWD, the chain continues from there.
    fs.symlink("b.meta", "m/network.011.meta")
        .file("m/network.011.meta", 1);
    assert_eq!(model_epoch_from_filename(&fs, "m/a").unwrap(), Some(11));
}
