//! One row per [oracle] statement of docs/returnn-engine.md §1, §3-§5 (model discovery and
//! selection), run on an in-memory directory. Each row: files on disk + config -> decision
//! (epoch, model, train start epoch, RETURNN's log lines) or error kind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use model_files::{get_epoch_model, MemFs};
use returnn_config::Config;

enum Expect {
    Sel {
        epoch: Option<u64>,
        model: Option<&'static str>,
        start: Option<u64>,
        notes: &'static [&'static str],
    },
    Fail(&'static str),
}
use Expect::*;

struct Case {
    name: &'static str,
    /// `ckpt:PREFIX` adds PREFIX.index/.meta/.data-00000-of-00001; `link:A->B` a symlink;
    /// `dir:P` a directory; anything else a file.
    files: &'static [&'static str],
    config: &'static str,
    expect: Expect,
}

const E123: &[&str] = &[
    "ckpt:net-model/network.001",
    "ckpt:net-model/network.002",
    "ckpt:net-model/network.003",
];

fn build_fs(files: &[&str]) -> MemFs {
    let mut fs = MemFs::new();
    for f in files {
        if let Some(p) = f.strip_prefix("ckpt:") {
            fs.file(&format!("{p}.index"), 10)
                .file(&format!("{p}.meta"), 100)
                .file(&format!("{p}.data-00000-of-00001"), 1000);
        } else if let Some(l) = f.strip_prefix("link:") {
            let (a, b) = l.split_once("->").unwrap();
            fs.symlink(a, b);
        } else if let Some(d) = f.strip_prefix("dir:") {
            fs.dir(d);
        } else {
            fs.file(f, 1);
        }
    }
    fs
}

fn with(files: &'static [&'static str], extra: &'static [&'static str]) -> Vec<&'static str> {
    files.iter().chain(extra.iter()).copied().collect()
}

fn run(case_name: &str, files: &[&str], config: &str, expect: &Expect) {
    let fs = build_fs(files);
    let text = format!("#!rnn.py\nmodel = 'net-model/network'\nnum_epochs = 5\n{config}\n");
    let cfg = Config::from_text(&text, "test.config").unwrap();
    let got = get_epoch_model(&cfg, &fs);
    match (expect, got) {
        (
            Sel {
                epoch,
                model,
                start,
                notes,
            },
            Ok(sel),
        ) => {
            assert_eq!(sel.epoch, *epoch, "{case_name}: epoch");
            assert_eq!(sel.model.as_deref(), *model, "{case_name}: model");
            assert_eq!(sel.start_epoch, *start, "{case_name}: start epoch");
            let want: Vec<String> = notes.iter().map(|s| s.to_string()).collect();
            assert_eq!(sel.notes, want, "{case_name}: notes");
        }
        (Fail(label), Err(e)) => {
            assert_eq!(e.kind_label(), *label, "{case_name}: error kind ({e})");
            assert!(!e.to_string().is_empty());
        }
        (Sel { .. }, Err(e)) => panic!("{case_name}: expected a selection, got error {e}"),
        (Fail(label), Ok(sel)) => panic!("{case_name}: expected error {label}, got {sel:?}"),
    }
}

#[test]
fn selection_table() {
    let load007: Vec<&str> = with(E123, &["ckpt:other/model.007"]);
    let cases: Vec<(Case, Vec<&str>)> = vec![
        // §5.4 worked decision summary
        (
            Case {
                name: "train_existing_1_3",
                files: E123,
                config: "",
                expect: Sel {
                    epoch: Some(3),
                    model: Some("net-model/network.003"),
                    start: Some(4),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_existing_start_epoch_1",
                files: E123,
                config: "start_epoch = 1",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: Some(1),
                    notes: &["warning: there is an existing model: (3, 'net-model/network.003')"],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_existing_start_epoch_3",
                files: E123,
                config: "start_epoch = 3",
                expect: Sel {
                    epoch: Some(2),
                    model: Some("net-model/network.002"),
                    start: Some(3),
                    notes: &["warning: start_epoch 3 but there is (3, 'net-model/network.003')"],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_existing_start_epoch_4",
                files: E123,
                config: "start_epoch = 4",
                expect: Sel {
                    epoch: Some(3),
                    model: Some("net-model/network.003"),
                    start: Some(4),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_start_epoch_after_gap_keyerror",
                files: E123,
                config: "start_epoch = 6",
                expect: Fail("start_epoch_model_missing"),
            },
            vec![],
        ),
        (
            Case {
                name: "train_start_epoch_gt1_nothing_found",
                files: &[],
                config: "start_epoch = 3",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_start_epoch_2_with_load",
                files: &["ckpt:other/model.007"],
                config: "load = 'other/model.007'\nstart_epoch = 2",
                expect: Sel {
                    epoch: None,
                    model: Some("other/model.007"),
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_existing_load_start_epoch_3",
                files: &[],
                config: "load = 'other/model.007'\nstart_epoch = 3",
                expect: Sel {
                    epoch: None,
                    model: Some("other/model.007"),
                    start: Some(1),
                    notes: &[],
                },
            },
            load007.clone(),
        ),
        (
            Case {
                name: "train_start3_load_epoch2_existing_pip",
                files: E123,
                config: "start_epoch = 3\nload_epoch = 2",
                expect: Sel {
                    epoch: Some(2),
                    model: Some("net-model/network.002"),
                    start: Some(3),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_start3_load_epoch1_inconsistent_pip",
                files: E123,
                config: "start_epoch = 3\nload_epoch = 1",
                expect: Fail("start_epoch_inconsistent"),
            },
            vec![],
        ),
        (
            Case {
                name: "train_start1_load_epoch2_import_own",
                files: E123,
                config: "start_epoch = 1\nload_epoch = 2",
                expect: Sel {
                    epoch: None,
                    model: Some("net-model/network.002"),
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_import_start_epoch_1",
                files: &["ckpt:base/model.010"],
                config: "import_model_train_epoch1 = 'base/model.010'\nstart_epoch = 1",
                expect: Sel {
                    epoch: Some(0),
                    model: Some("base/model.010"),
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "search_existing_start_epoch_3",
                files: E123,
                config: "task = 'search'\nstart_epoch = 3",
                expect: Sel {
                    epoch: Some(2),
                    model: Some("net-model/network.002"),
                    start: None,
                    notes: &["warning: start_epoch 3 but there is (3, 'net-model/network.003')"],
                },
            },
            vec![],
        ),
        // §5.2 consequences
        (
            Case {
                name: "train_existing_overrides_load",
                files: &[],
                config: "load = 'other/model.007'",
                expect: Sel {
                    epoch: Some(3),
                    model: Some("net-model/network.003"),
                    start: Some(4),
                    notes: &["note: there is a 'load' which we ignore because of existing model"],
                },
            },
            load007.clone(),
        ),
        (
            Case {
                name: "train_load_epoch_existing_but_latest_wins",
                files: E123,
                config: "load_epoch = 2",
                expect: Sel {
                    epoch: Some(3),
                    model: Some("net-model/network.003"),
                    start: Some(4),
                    notes: &["note: there is a 'load' which we ignore because of existing model"],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_import_existing_wins",
                files: &[],
                config: "import_model_train_epoch1 = 'base/model.010'",
                expect: Sel {
                    epoch: Some(3),
                    model: Some("net-model/network.003"),
                    start: Some(4),
                    notes: &[],
                },
            },
            with(E123, &["ckpt:base/model.010"]),
        ),
        (
            Case {
                name: "search_load_beats_existing",
                files: &[],
                config: "task = 'search'\nload = 'other/model.007'",
                expect: Sel {
                    epoch: Some(7),
                    model: Some("other/model.007"),
                    start: None,
                    notes: &[],
                },
            },
            load007.clone(),
        ),
        (
            Case {
                name: "search_load_epoch",
                files: E123,
                config: "task = 'search'\nload_epoch = 2",
                expect: Sel {
                    epoch: Some(2),
                    model: Some("net-model/network.002"),
                    start: None,
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_import_beats_load",
                files: &["ckpt:other/model.007", "ckpt:base/model.010"],
                config: "import_model_train_epoch1 = 'base/model.010'\nload = 'other/model.007'",
                expect: Sel {
                    epoch: Some(0),
                    model: Some("base/model.010"),
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "search_import_ignored",
                files: &["ckpt:base/model.010"],
                config: "task = 'search'\nimport_model_train_epoch1 = 'base/model.010'",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: None,
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_import_start_epoch_3_ignored",
                files: &["ckpt:base/model.010"],
                config: "import_model_train_epoch1 = 'base/model.010'\nstart_epoch = 3",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_load_continues_at_epoch_plus_1",
                files: &["ckpt:other/model.007"],
                config: "load = 'other/model.007'",
                expect: Sel {
                    epoch: Some(7),
                    model: Some("other/model.007"),
                    start: Some(8),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_load_without_epoch_is_import",
                files: &["ckpt:other/final"],
                config: "load = 'other/final'",
                expect: Sel {
                    epoch: None,
                    model: Some("other/final"),
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        // §5.3
        (
            Case {
                name: "search_start_epoch_1_drops_model",
                files: E123,
                config: "task = 'search'\nstart_epoch = 1",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: None,
                    notes: &["warning: there is an existing model: (3, 'net-model/network.003')"],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "search_start_epoch_1_with_load",
                files: &["ckpt:other/model.007"],
                config: "task = 'search'\nstart_epoch = 1\nload = 'other/model.007'",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: None,
                    notes: &["warning: there is an existing model: (7, 'other/model.007')"],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "search_start_epoch_3_with_load",
                files: &[],
                config: "task = 'search'\nstart_epoch = 3\nload = 'other/model.007'",
                expect: Sel {
                    epoch: Some(2),
                    model: Some("net-model/network.002"),
                    start: None,
                    notes: &["warning: start_epoch 3 but there is (7, 'other/model.007')"],
                },
            },
            load007.clone(),
        ),
        // §5.1 validation
        (
            Case {
                name: "train_start_epoch_zero",
                files: E123,
                config: "start_epoch = 0",
                expect: Fail("start_epoch_lt_1"),
            },
            vec![],
        ),
        (
            Case {
                name: "train_start_epoch_negative",
                files: E123,
                config: "start_epoch = -2",
                expect: Fail("start_epoch_lt_1"),
            },
            vec![],
        ),
        (
            Case {
                name: "train_start_epoch_not_int",
                files: E123,
                config: "start_epoch = 'first'",
                expect: Fail("start_epoch_not_int"),
            },
            vec![],
        ),
        (
            Case {
                name: "train_start_epoch_float_str",
                files: E123,
                config: "start_epoch = 2.0",
                expect: Fail("start_epoch_not_int"),
            },
            vec![],
        ),
        (
            Case {
                name: "train_load_index_only_fails",
                files: &[
                    "other/model.007.index",
                    "other/model.007.data-00000-of-00001",
                ],
                config: "load = 'other/model.007'",
                expect: Fail("load_not_found"),
            },
            vec![],
        ),
        (
            Case {
                name: "train_load_with_data_ext",
                files: &["ckpt:other/model.007"],
                config: "load = 'other/model.007.data-00000-of-00001'",
                expect: Sel {
                    epoch: Some(7),
                    model: Some("other/model.007.data-00000-of-00001"),
                    start: Some(8),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_load_with_meta_suffix",
                files: &["ckpt:other/model.007"],
                config: "load = 'other/model.007.meta'",
                expect: Sel {
                    epoch: Some(7),
                    model: Some("other/model.007"),
                    start: Some(8),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_load_bare_file_exists",
                files: &["other/model.007"],
                config: "load = 'other/model.007'",
                expect: Sel {
                    epoch: Some(7),
                    model: Some("other/model.007"),
                    start: Some(8),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_import_meta_missing",
                files: &["base/model.010.index", "base/model.010"],
                config: "import_model_train_epoch1 = 'base/model.010'",
                expect: Fail("import_not_found"),
            },
            vec![],
        ),
        (
            Case {
                name: "search_import_missing_still_asserts",
                files: E123,
                config: "task = 'search'\nimport_model_train_epoch1 = 'base/missing.010'",
                expect: Fail("import_not_found"),
            },
            vec![],
        ),
        (
            Case {
                name: "train_load_epoch_missing",
                files: E123,
                config: "task = 'search'\nload_epoch = 4",
                expect: Fail("load_epoch_missing"),
            },
            vec![],
        ),
        (
            Case {
                name: "train_load_epoch_missing_train",
                files: E123,
                config: "load_epoch = 4",
                expect: Fail("load_epoch_missing"),
            },
            vec![],
        ),
        (
            Case {
                name: "train_load_epoch_symlink_mismatch",
                files: &[
                    "ckpt:net-model/network.001",
                    "net-model/network.002.index",
                    "link:net-model/network.002.meta->network.001.meta",
                ],
                config: "load_epoch = 2",
                expect: Fail("load_epoch_symlink_mismatch"),
            },
            vec![],
        ),
        (
            Case {
                name: "load_epoch_positive_overrides_filename",
                files: &["ckpt:other/model.007"],
                config: "task = 'search'\nload = 'other/model.007'\nload_epoch = 9",
                expect: Sel {
                    epoch: Some(9),
                    model: Some("other/model.007"),
                    start: None,
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "load_epoch_zero_ignored_latest",
                files: E123,
                config: "task = 'search'\nload_epoch = 0",
                expect: Sel {
                    epoch: Some(3),
                    model: Some("net-model/network.003"),
                    start: None,
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "load_epoch_zero_with_load_uses_filename",
                files: &["ckpt:other/model.007"],
                config: "task = 'search'\nload = 'other/model.007'\nload_epoch = 0",
                expect: Sel {
                    epoch: Some(7),
                    model: Some("other/model.007"),
                    start: None,
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "load_epoch_widens_discovery",
                files: &["ckpt:net-model/network.008"],
                config: "task = 'search'\nload_epoch = 8",
                expect: Sel {
                    epoch: Some(8),
                    model: Some("net-model/network.008"),
                    start: None,
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "load_pretrain_via_load_epoch",
                files: &[
                    "ckpt:net-model/network.pretrain.002",
                    "ckpt:net-model/network.003",
                ],
                config: "task = 'search'\nload_epoch = 2",
                expect: Sel {
                    epoch: Some(2),
                    model: Some("net-model/network.pretrain.002"),
                    start: None,
                    notes: &[],
                },
            },
            vec![],
        ),
        // §1 config typing
        (
            Case {
                name: "train_load_none",
                files: E123,
                config: "load = None",
                expect: Sel {
                    epoch: Some(3),
                    model: Some("net-model/network.003"),
                    start: Some(4),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "train_start_epoch_none_means_auto",
                files: E123,
                config: "start_epoch = None",
                expect: Sel {
                    epoch: Some(3),
                    model: Some("net-model/network.003"),
                    start: Some(4),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "typed_load_epoch_str_rejected",
                files: E123,
                config: "load_epoch = '2'",
                expect: Fail("load_epoch_not_int"),
            },
            vec![],
        ),
        (
            Case {
                name: "typed_num_epochs_float",
                files: E123,
                config: "num_epochs = 3.0",
                expect: Fail("num_epochs_not_int"),
            },
            vec![],
        ),
        (
            Case {
                name: "typed_load_epoch_none",
                files: E123,
                config: "load_epoch = None",
                expect: Fail("load_epoch_none"),
            },
            vec![],
        ),
        (
            Case {
                name: "typed_num_epochs_none",
                files: E123,
                config: "num_epochs = None",
                expect: Fail("num_epochs_none"),
            },
            vec![],
        ),
        (
            Case {
                name: "typed_load_epoch_true_is_1",
                files: E123,
                config: "task = 'search'\nload_epoch = True",
                expect: Sel {
                    epoch: Some(1),
                    model: Some("net-model/network.001"),
                    start: None,
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "model_list_joined",
                files: E123,
                config: "model = ['net-model/network']",
                expect: Sel {
                    epoch: Some(3),
                    model: Some("net-model/network.003"),
                    start: Some(4),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "start_batch_not_auto",
                files: E123,
                config: "start_batch = 5",
                expect: Fail("start_batch_not_auto"),
            },
            vec![],
        ),
        // §4 discovery
        (
            Case {
                name: "discover_beyond_default_num_epochs",
                files: &["ckpt:net-model/network.006"],
                config: "",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_num_epochs_zero_scans_nothing",
                files: E123,
                config: "num_epochs = 0",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_epoch_1234_not_scanned",
                files: &["net-model/network.1234.index"],
                config: "num_epochs = 100",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_epoch_1234_scanned",
                files: &["net-model/network.1234.index"],
                config: "num_epochs = 1234",
                expect: Sel {
                    epoch: Some(1234),
                    model: Some("net-model/network.1234"),
                    start: Some(1235),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_bare_file",
                files: &["net-model/network.002"],
                config: "",
                expect: Sel {
                    epoch: Some(2),
                    model: Some("net-model/network.002"),
                    start: Some(3),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_directory_counts",
                files: &["dir:net-model/network.004"],
                config: "",
                expect: Sel {
                    epoch: Some(4),
                    model: Some("net-model/network.004"),
                    start: Some(5),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_meta_only_not_found",
                files: &["net-model/network.002.meta"],
                config: "",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_data_file_only_not_found",
                files: &["net-model/network.002.data-00000-of-00001"],
                config: "",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_dangling_index_symlink",
                files: &["link:net-model/network.002.index->gone.index"],
                config: "",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_normal_meta_only_vs_pretrain_index",
                files: &[
                    "net-model/network.002.meta",
                    "net-model/network.pretrain.002.index",
                ],
                config: "",
                expect: Sel {
                    epoch: Some(2),
                    model: Some("net-model/network.pretrain.002"),
                    start: Some(3),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_normal_beats_pretrain",
                files: &[
                    "ckpt:net-model/network.002",
                    "ckpt:net-model/network.pretrain.002",
                ],
                config: "",
                expect: Sel {
                    epoch: Some(2),
                    model: Some("net-model/network.002"),
                    start: Some(3),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_pretrain_latest",
                files: &[
                    "ckpt:net-model/network.001",
                    "ckpt:net-model/network.pretrain.002",
                ],
                config: "",
                expect: Sel {
                    epoch: Some(2),
                    model: Some("net-model/network.pretrain.002"),
                    start: Some(3),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_exact_03d_only",
                files: &["net-model/network.01.index", "net-model/network.0001.index"],
                config: "",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_keeps_model_string",
                files: E123,
                config: "model = './net-model/network'",
                expect: Sel {
                    epoch: Some(3),
                    model: Some("./net-model/network.003"),
                    start: Some(4),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "discover_model_trailing_slash",
                files: &["net-model/.005.index"],
                config: "model = 'net-model/'",
                expect: Sel {
                    epoch: Some(5),
                    model: Some("net-model/.005"),
                    start: Some(6),
                    notes: &[],
                },
            },
            vec![],
        ),
        (
            Case {
                name: "no_model_nothing",
                files: E123,
                config: "model = None",
                expect: Sel {
                    epoch: None,
                    model: None,
                    start: Some(1),
                    notes: &[],
                },
            },
            vec![],
        ),
    ];
    let n = cases.len();
    for (c, extra) in &cases {
        let files: Vec<&str> = c
            .files
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect();
        run(c.name, &files, c.config, &c.expect);
    }
    assert!(n >= 60, "table has {n} rows");
}

#[test]
fn large_num_epochs_uses_listing_with_same_result() {
    // Beyond the probe limit the directory is listed; the result must be the same as probing.
    let fs = build_fs(&[
        "ckpt:net-model/network.001",
        "net-model/network.123456.index",
        "net-model/network.0123457.index",
        "net-model/network.pretrain.123458",
        "net-model/network.123459.meta",
    ]);
    let cfg = Config::from_text(
        "#!x\nmodel = 'net-model/network'\nnum_epochs = 1000000\n",
        "c",
    )
    .unwrap();
    let sel = get_epoch_model(&cfg, &fs).unwrap();
    let epochs: Vec<u64> = sel.existing.keys().copied().collect();
    assert_eq!(epochs, [1, 123456, 123458]);
    assert_eq!(sel.epoch, Some(123458));
    assert_eq!(
        sel.model.as_deref(),
        Some("net-model/network.pretrain.123458")
    );
}

#[test]
fn overrides_are_typed_like_returnn() {
    let fs = build_fs(E123);
    // `++load_epoch 2` on a line-based/absent key is a string that int() reads.
    let mut cfg =
        Config::from_text("#!x\nmodel = 'net-model/network'\ntask = 'search'\n", "c").unwrap();
    cfg.apply_overrides(&["++load_epoch".into(), "2".into()])
        .unwrap();
    let sel = get_epoch_model(&cfg, &fs).unwrap();
    assert_eq!(sel.epoch, Some(2));
    // A typed `load_epoch = None` overridden by `++load_epoch 1` is eval'd to an int.
    let mut cfg = Config::from_text(
        "#!x\nmodel = 'net-model/network'\ntask = 'search'\nload_epoch = None\n",
        "c",
    )
    .unwrap();
    cfg.apply_overrides(&["++load_epoch".into(), "1".into()])
        .unwrap();
    assert_eq!(get_epoch_model(&cfg, &fs).unwrap().epoch, Some(1));
    // `++start_epoch 3` on a typed string keeps the string, and int() reads it.
    let mut cfg = Config::from_text(
        "#!x\nmodel = 'net-model/network'\nstart_epoch = 'auto'\n",
        "c",
    )
    .unwrap();
    cfg.apply_overrides(&["++start_epoch".into(), "3".into()])
        .unwrap();
    let sel = get_epoch_model(&cfg, &fs).unwrap();
    assert_eq!((sel.epoch, sel.start_epoch), (Some(2), Some(3)));
    // Line-based config: every value is a string.
    let cfg = Config::from_text(
        "model net-model/network\nnum_epochs 2\ntask train\n",
        "c.txt",
    )
    .unwrap();
    let sel = get_epoch_model(&cfg, &fs).unwrap();
    assert_eq!(sel.epoch, Some(2));
}

#[test]
fn torch_discovery_needs_opt_for_training() {
    // docs/returnn-engine.md §9 [run]: network.001.pt+.opt.pt, network.002.pt, bare network.003:
    // training sees {1, 3}, non-training sees {1, 2, 3}.
    let fs = build_fs(&[
        "net-model/network.001.pt",
        "net-model/network.001.opt.pt",
        "net-model/network.002.pt",
        "net-model/network.003",
    ]);
    for (task, want) in [("train", vec![1u64, 3]), ("search", vec![1, 2, 3])] {
        let cfg = Config::from_text(
            &format!("#!x\nbackend = 'torch'\nmodel = 'net-model/network'\ntask = '{task}'\n"),
            "c",
        )
        .unwrap();
        let sel = get_epoch_model(&cfg, &fs).unwrap();
        let got: Vec<u64> = sel.existing.keys().copied().collect();
        assert_eq!(got, want, "{task}");
    }
    // load via .pt; import needs .pt
    let cfg = Config::from_text(
        "#!x\nbackend = 'torch'\nmodel = 'none/x'\ntask = 'search'\nload = 'net-model/network.002.pt'\n",
        "c",
    )
    .unwrap();
    let sel = get_epoch_model(&cfg, &fs).unwrap();
    assert_eq!(
        (sel.epoch, sel.model.as_deref()),
        (Some(2), Some("net-model/network.002"))
    );
    let cfg = Config::from_text("#!x\nbackend = 'jax'\n", "c").unwrap();
    assert_eq!(
        get_epoch_model(&cfg, &fs).unwrap_err().kind_label(),
        "backend_not_supported"
    );
}

#[test]
fn error_messages_carry_returnn_text() {
    let fs = build_fs(E123);
    let rows: &[(&str, &str)] = &[
        (
            "load = 'other/model.007'",
            "AssertionError: config option load='other/model.007', file 'other/model.007.meta' does not exist",
        ),
        ("start_epoch = 'x'", "ValueError: invalid literal for int() with base 10: 'x'"),
        ("start_epoch = 6", "KeyError: 5"),
        (
            "start_epoch = 3\nload_epoch = 1",
            "ValueError: start_epoch 3 with load_epoch 1 is inconsistent: continuing the training at start_epoch loads epoch 2. To import a model for a new training, use 'load' or 'import_model_train_epoch1'.",
        ),
        ("load_epoch = None", "TypeError: '>' not supported between instances of 'NoneType' and 'int'"),
        ("start_batch = 'x'", "Exception: custom start_batch 'x' not supported"),
    ];
    for (cfg_text, want) in rows {
        let cfg = Config::from_text(
            &format!("#!x\nmodel = 'net-model/network'\n{cfg_text}\n"),
            "c",
        )
        .unwrap();
        let e = get_epoch_model(&cfg, &fs).unwrap_err();
        assert!(e.to_string().starts_with(want), "{cfg_text}: {e}");
    }
}

#[test]
fn huge_epochs_do_not_overflow() {
    let fs = build_fs(&[
        "ckpt:other/model.18446744073709551615",
        "ckpt:other/model.4294967296",
    ]);
    let cfg = Config::from_text("#!x\nload = 'other/model.4294967296'\n", "c").unwrap();
    let sel = get_epoch_model(&cfg, &fs).unwrap();
    assert_eq!(
        (sel.epoch, sel.start_epoch),
        (Some(4294967296), Some(4294967297))
    );
    let cfg = Config::from_text("#!x\nload = 'other/model.18446744073709551615'\n", "c").unwrap();
    assert_eq!(
        get_epoch_model(&cfg, &fs).unwrap_err().kind_label(),
        "epoch_overflow"
    );
    let cfg = Config::from_text(
        "#!x\nload = 'other/model.18446744073709551615'\ntask = 'search'\n",
        "c",
    )
    .unwrap();
    assert_eq!(get_epoch_model(&cfg, &fs).unwrap().epoch, Some(u64::MAX));
}

#[test]
fn main_task_rules_eval_forward() {
    // docs/returnn-engine.md §6.2: eval copies `epoch` into `load_epoch` (needs one of them unless
    // `load`); forward copies `epoch` into `load_epoch`; eval computes a train start epoch.
    use model_files::resolve;
    let fs = build_fs(E123);
    type Want = Result<(Option<u64>, Option<u64>), &'static str>;
    let rows: &[(&str, Want)] = &[
        ("task = 'eval'\nepoch = 2", Ok((Some(2), Some(3)))),
        ("task = 'eval'\nload_epoch = 1", Ok((Some(1), Some(2)))),
        (
            "task = 'eval'\nepoch = 2\nload_epoch = 2",
            Ok((Some(2), Some(3))),
        ),
        (
            "task = 'eval'\nepoch = 2\nload_epoch = 1",
            Err("eval_epoch_mismatch"),
        ),
        ("task = 'eval'", Err("eval_epoch_missing")),
        ("task = 'eval'\nepoch = None", Err("epoch_none")),
        (
            "task = 'eval'\nload = 'net-model/network.001'",
            Ok((Some(1), Some(2))),
        ),
        ("task = 'forward'\nepoch = 2", Ok((Some(2), None))),
        ("task = 'forward'", Ok((Some(3), None))),
        (
            "task = 'forward'\nepoch = 2\ndef forward_callback(): pass",
            Ok((Some(3), None)),
        ),
        ("task = 'search'\nepoch = 2", Ok((Some(3), None))),
    ];
    for (text, want) in rows {
        let cfg =
            Config::from_text(&format!("#!x\nmodel = 'net-model/network'\n{text}\n"), "c").unwrap();
        match (resolve(&cfg, &fs), want) {
            (Ok(sel), Ok((epoch, start))) => {
                assert_eq!((sel.epoch, sel.start_epoch), (*epoch, *start), "{text}")
            }
            (Err(e), Err(label)) => assert_eq!(e.kind_label(), *label, "{text}"),
            (got, _) => panic!("{text}: {got:?}"),
        }
    }
}
