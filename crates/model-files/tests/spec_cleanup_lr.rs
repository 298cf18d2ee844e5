//! docs/returnn-engine.md §11 (cleanup_old_models) and §12 (learning-rate file), plus the
//! RETURNN fixtures' `newbob.data` files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use model_files::cleanup::{default_keep_pattern, plan_cleanup, CleanupOptions};
use model_files::lr_file::get_error_key;
use model_files::{Backend, EpochData, LrFile, MemFs, RealFs};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn stored(n: u64) -> (BTreeMap<u64, String>, MemFs) {
    let mut fs = MemFs::new();
    let mut e = BTreeMap::new();
    for ep in 1..=n {
        let p = format!("net-model/network.{ep:03}");
        fs.file(&format!("{p}.index"), 10)
            .file(&format!("{p}.meta"), 100)
            .file(&format!("{p}.data-00000-of-00001"), 1000);
        e.insert(ep, p);
    }
    (e, fs)
}

fn lr_with(n: u64, score: impl Fn(u64) -> f64) -> LrFile {
    let mut lr = LrFile::default();
    for ep in 1..=n {
        lr.epochs.insert(
            ep,
            EpochData {
                learning_rate: Some(0.001),
                scores: vec![("dev_score".into(), score(ep))],
                meta: vec![],
            },
        );
    }
    lr
}

#[test]
fn default_outcome_table_constant_scores() {
    // docs/returnn-engine.md §11 "Default outcome with all scores constant".
    let rows: &[(u64, &[u64])] = &[
        (6, &[4, 5, 6]),
        (10, &[4, 5, 8, 9, 10]),
        (11, &[5, 10, 11]),
        (20, &[5, 10, 19, 20]),
        (50, &[5, 10, 20, 40, 49, 50]),
        (51, &[10, 20, 40, 50, 51]),
        (100, &[10, 20, 40, 80, 99, 100]),
        (101, &[20, 40, 80, 100, 101]),
        (250, &[20, 40, 80, 160, 249, 250]),
        (500, &[20, 40, 80, 160, 320, 499, 500]),
        (1000, &[20, 40, 80, 160, 320, 640, 999, 1000]),
    ];
    for (n, want) in rows {
        let (existing, fs) = stored(*n);
        let lr = lr_with(*n, |_| 1.5);
        let plan = plan_cleanup(
            &existing,
            &lr,
            &CleanupOptions::default(),
            &fs,
            Backend::TensorFlow,
        )
        .unwrap();
        assert_eq!(plan.keep, *want, "N={n}");
        assert_eq!(plan.keep.len() + plan.delete.len(), *n as usize);
    }
}

#[test]
fn best_n_by_score() {
    // docs/returnn-engine.md §11: 30 epochs with dev_score = (ep-12)^2 kept
    // {5, 10, 11, 12, 13, 20, 29, 30}.
    let (existing, fs) = stored(30);
    let lr = lr_with(30, |ep| (ep as f64 - 12.0).powi(2));
    let plan = plan_cleanup(
        &existing,
        &lr,
        &CleanupOptions::default(),
        &fs,
        Backend::TensorFlow,
    )
    .unwrap();
    assert_eq!(plan.keep, [5, 10, 11, 12, 13, 20, 29, 30]);
    // The files of each deleted epoch are exactly its own three files.
    let files = &plan.files[&1];
    let names: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        names,
        [
            "net-model/network.001.data-00000-of-00001",
            "net-model/network.001.index",
            "net-model/network.001.meta"
        ]
    );
}

#[test]
fn nothing_deleted_until_enough_epochs() {
    let (existing, fs) = stored(4);
    let plan = plan_cleanup(
        &existing,
        &lr_with(4, |e| e as f64),
        &CleanupOptions::default(),
        &fs,
        Backend::TensorFlow,
    )
    .unwrap();
    assert!(plan.delete.is_empty());
    assert!(plan.log[0].starts_with("Only 4 epochs stored so far"));
    let plan = plan_cleanup(
        &BTreeMap::new(),
        &LrFile::default(),
        &CleanupOptions::default(),
        &fs,
        Backend::TensorFlow,
    )
    .unwrap();
    assert_eq!(plan.log, ["Cannot cleanup models, no models found."]);
}

#[test]
fn keep_option_replaces_pattern_and_missing_value_is_worst() {
    let (existing, fs) = stored(12);
    let mut lr = lr_with(12, |ep| ep as f64);
    // epoch 1 lacks the key: counts as the worst value.
    lr.epochs.get_mut(&1).unwrap().scores.clear();
    lr.epochs
        .get_mut(&1)
        .unwrap()
        .scores
        .push(("other".into(), 3.0));
    let opts = CleanupOptions {
        keep_last_n: 1,
        keep_best_n: 2,
        keep: Some([7].into_iter().collect()),
        unknown_keys: vec![],
    };
    let plan = plan_cleanup(&existing, &lr, &opts, &fs, Backend::TensorFlow).unwrap();
    // keep {7} + last 1 {12} + best 2 of dev_score {2, 3}; key "other" exists in one epoch only
    // (its single value is constant, so it is dropped).
    assert_eq!(plan.keep, [2, 3, 7, 12]);
}

#[test]
fn cleanup_deletes_exact_names_never_prefixes() {
    // Deleting epoch 100 must not touch network.1000.* (RETURNN's glob quirk).
    let mut fs = MemFs::new();
    let mut existing = BTreeMap::new();
    for ep in [100u64, 1000] {
        let p = format!("m/network.{ep:03}");
        fs.file(&format!("{p}.index"), 1)
            .file(&format!("{p}.meta"), 1);
        existing.insert(ep, p);
    }
    fs.file("m/network.100.index.bak", 1)
        .file("m/network.1000.data-00000-of-00001", 5);
    let files = model_files::cleanup::epoch_files(&fs, "m/network.100", Backend::TensorFlow);
    let names: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, ["m/network.100.index", "m/network.100.meta"]);
}

#[test]
fn keep_pattern_large_n() {
    // N > 100: every 80 * next_pow2(1 + N // 240), doubles of 20.
    let p = default_keep_pattern(2000);
    // 1 + 2000 // 240 = 9 -> next_pow2 16 -> every 1280
    assert!(p.contains(&1280) && !p.contains(&1920));
    assert!(p.contains(&20) && p.contains(&1280));
    assert_eq!(p.iter().copied().filter(|x| x % 1280 == 0).count(), 1);
}

#[test]
fn lr_file_formats() {
    let text = "{\n1: EpochData(learningRate=0.001, error={\n'dev_error': 0.3,\n'dev_score': 1.5,\n'train_score': 2.0,\n}),\n\
2: EpochData(learningRate=0.0005, error={\n':meta:effective_learning_rate': 0.0004,\n'dev_score_output/output': 1.2,\n}),\n\
3: EpochData(learningRate=1e-05, error={}),\n\
4: EpochData(learning_rate=np.float32(0.01), error=0.7),\n\
5: EpochData(learningRate=1, error=None),\n\
6: EpochData(learningRate=float('nan'), error={'dev_score': float('inf'), 'x': nan, 'y': np.float64(-2.5)}),\n}\n";
    let lr = LrFile::parse(text, Path::new("newbob.data")).unwrap();
    assert_eq!(lr.epochs.len(), 6);
    assert_eq!(lr.epochs[&1].learning_rate, Some(0.001));
    assert_eq!(lr.epochs[&1].score("dev_score"), Some(1.5));
    assert_eq!(
        lr.epochs[&2].meta,
        [("effective_learning_rate".to_string(), 0.0004)]
    );
    assert_eq!(lr.epochs[&2].scores.len(), 1);
    assert!(lr.epochs[&3].scores.is_empty());
    assert_eq!(lr.epochs[&4].learning_rate, Some(f64::from(0.01f32)));
    assert_eq!(
        lr.epochs[&4].scores,
        [("old_format_score".to_string(), 0.7)]
    );
    assert!(lr.epochs[&5].scores.is_empty());
    assert_eq!(lr.warnings.len(), 1, "{:?}", lr.warnings);
    assert!(lr.warnings[0].contains("TypeError"));
    assert!(lr.epochs[&6].learning_rate.unwrap().is_nan());
    assert_eq!(lr.epochs[&6].score("dev_score"), Some(f64::INFINITY));
    assert_eq!(lr.epochs[&6].score("y"), Some(-2.5));
    // get_error_key rules
    assert_eq!(lr.get_error_key(1, &[]).as_deref(), Some("dev_score"));
    assert_eq!(
        lr.get_error_key(2, &[]).as_deref(),
        Some("dev_score_output/output")
    );
    assert_eq!(lr.get_error_key(3, &[]), None);
    assert_eq!(
        lr.get_error_key(4, &[]).as_deref(),
        Some("old_format_score")
    );
    assert_eq!(
        lr.get_error_key(1, &["dev_error".into()]).as_deref(),
        Some("dev_error")
    );
    assert_eq!(lr.last_epoch_with_scores(), Some(6));
    // A syntax error names the line.
    let e = LrFile::parse(
        "{\n1: EpochData(learningRate=0.1, error={\n'a': ,\n}),\n}",
        Path::new("f"),
    )
    .unwrap_err();
    assert_eq!(e.line, Some(3), "{e}");
}

#[test]
fn error_key_precedence() {
    let mk = |keys: &[&str]| EpochData {
        learning_rate: None,
        scores: keys.iter().map(|k| (k.to_string(), 1.0)).collect(),
        meta: vec![],
    };
    let rows: &[(&[&str], &[&str], Option<&str>)] = &[
        (
            &["train_score", "dev_score_output"],
            &[],
            Some("dev_score_output"),
        ),
        (
            &["dev_score_output/output_b", "dev_score_output/output"],
            &[],
            Some("dev_score_output/output"),
        ),
        (
            &["dev_score_output/zz", "dev_error"],
            &[],
            Some("dev_score_output/zz"),
        ),
        (&["dev_error", "dev_a"], &[], Some("dev_a")),
        (
            &["train_score_output", "train_score", "a"],
            &[],
            Some("train_score"),
        ),
        (&["zeta", "alpha"], &[], Some("alpha")),
        (&["m_output", "dev_score"], &["m"], Some("m_output")),
        (&["old_format_score"], &[], Some("old_format_score")),
    ];
    for (keys, measure, want) in rows {
        let m: Vec<String> = measure.iter().map(|s| s.to_string()).collect();
        assert_eq!(get_error_key(&mk(keys), &m).as_deref(), *want, "{keys:?}");
    }
}

#[test]
fn fixture_newbob_files() {
    for (case, epochs, best_dev) in [
        ("returnn_train_nativelstm", 3u64, 3u64),
        ("returnn_pretrain", 3, 3),
        ("returnn_preload", 1, 1),
        ("returnn_import_epoch1", 1, 1),
    ] {
        let lr = LrFile::load(
            &RealFs::default(),
            &fixtures().join(case).join("newbob.data").to_string_lossy(),
        )
        .unwrap();
        assert_eq!(lr.epochs.len() as u64, epochs, "{case}");
        assert!(lr.warnings.is_empty(), "{case}: {:?}", lr.warnings);
        for d in lr.epochs.values() {
            assert!(d.learning_rate.is_some());
            // the four :meta: keys are meta, the four scores are scores
            assert_eq!(d.meta.len(), 4, "{case}");
            assert_eq!(d.scores.len(), 4, "{case}");
        }
        let key = lr.get_error_key(epochs, &[]).unwrap();
        assert_eq!(key, "dev_score");
        let best = lr
            .epochs
            .iter()
            .min_by(|a, b| {
                a.1.score(&key)
                    .unwrap()
                    .total_cmp(&b.1.score(&key).unwrap())
            })
            .map(|(e, _)| *e)
            .unwrap();
        assert_eq!(best, best_dev, "{case}");
    }
    let lr = LrFile::load(
        &RealFs::default(),
        &fixtures()
            .join("returnn_train_nativelstm/newbob.data")
            .to_string_lossy(),
    )
    .unwrap();
    assert_eq!(lr.epochs[&2].score("dev_score"), Some(0.30974021553993225));
    assert_eq!(
        lr.epochs[&1].meta[0],
        ("effective_learning_rate".to_string(), 0.009999999776482582)
    );
}

#[test]
fn lr_file_hostile_nesting_is_an_error() {
    let text = format!(
        "{{1: EpochData(learningRate=0.1, error={}0.5{})}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let e = LrFile::parse(&text, Path::new("newbob.data")).unwrap_err();
    assert!(e.message.contains("too many nested parentheses"), "{e}");
}

#[test]
fn best_epoch_key_pitfall_train_score_only() {
    // docs/returnn-engine.md §12 [run]: if the last epoch only has train_score (dev eval not done
    // yet), the automatic key becomes train_score.
    let text = "{\n1: EpochData(learningRate=0.1, error={'dev_score': 1.0, 'train_score': 2.0}),\n\
                2: EpochData(learningRate=0.1, error={'train_score': 1.5}),\n}";
    let lr = LrFile::parse(text, Path::new("f")).unwrap();
    let last = lr.last_epoch_with_scores().unwrap();
    assert_eq!(last, 2);
    assert_eq!(lr.get_error_key(last, &[]).as_deref(), Some("train_score"));
}

/// docs/returnn-engine.md §12: `:meta:` entries are no scores; the PyTorch engine stores
/// strings and None there (the fixture returnn_torch_train's file), which are no warnings,
/// while a non-number score still is one.
#[test]
fn meta_entries_that_are_not_numbers_are_silently_no_scores() {
    let text = "{\n1: EpochData(learningRate=0.01, error={\n':meta:device': 'cpu',\n\
                ':meta:distributed': None,\n':meta:global_train_step': 0,\n\
                'dev_loss_ce': 2.5,\n'odd': 'x',\n}),\n}\n";
    let lr = model_files::LrFile::parse(text, std::path::Path::new("newbob.data")).unwrap();
    let d = &lr.epochs[&1];
    assert_eq!(d.scores, vec![("dev_loss_ce".to_string(), 2.5)]);
    assert_eq!(d.meta, vec![("global_train_step".to_string(), 0.0)]);
    assert_eq!(lr.warnings.len(), 1, "{:?}", lr.warnings);
    assert!(lr.warnings[0].contains("\"odd\""), "{:?}", lr.warnings);
}
