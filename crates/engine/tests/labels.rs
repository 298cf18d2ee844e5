//! Every `kind` and `status` string a face can show (JSON `"kind"`, `"status"`, Python's
//! `Error.kind`): one casing (snake_case), unique within its family, and listed in
//! `tests/labels.txt` so that a change of a stable label is a visible diff
//! (`LABELS=overwrite cargo test -p engine --test labels` rewrites it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use engine::ErrorKind;

fn families() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut kinds: Vec<&'static str> = Vec::new();
    kinds.extend(ErrorKind::ALL_ENGINE.iter().map(|k| k.label()));
    kinds.extend(
        returnn_config::ErrorKind::ALL
            .iter()
            .map(|k| ErrorKind::Config(*k).label()),
    );
    kinds.extend(
        model_files::SelectErrorKind::ALL
            .iter()
            .map(|k| ErrorKind::Select(*k).label()),
    );
    kinds.extend(
        param_map::MapErrorKind::ALL
            .iter()
            .map(|k| ErrorKind::Map(*k).label()),
    );
    kinds.extend(
        param_map::torch::TorchErrorKind::ALL
            .iter()
            .map(|k| ErrorKind::Torch(*k).label()),
    );
    kinds.extend(
        tf_bundle::ErrorCode::ALL
            .iter()
            .map(|k| ErrorKind::Read(*k).label()),
    );
    kinds.extend(
        convert::ErrorCode::OWN
            .iter()
            .map(|k| ErrorKind::Convert(*k).label()),
    );
    kinds.extend(
        port::PortErrorKind::ALL
            .iter()
            .map(|k| ErrorKind::Port(*k).label()),
    );
    let statuses = param_map::Status::ALL.iter().map(|s| s.label()).collect();
    vec![("kind", kinds), ("status", statuses)]
}

fn snake(s: &str) -> bool {
    !s.is_empty()
        && s.split('_').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

#[test]
fn every_label_is_snake_case_and_listed() {
    let mut text = String::new();
    for (family, labels) in families() {
        let set: BTreeSet<&str> = labels.iter().copied().collect();
        for l in &set {
            assert!(snake(l), "{family} label {l:?} is not snake_case");
            text.push_str(&format!("{family} {l}\n"));
        }
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/labels.txt");
    if std::env::var("LABELS").is_ok_and(|v| v == "overwrite") {
        std::fs::write(&file, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&file).unwrap_or_default();
    assert_eq!(
        want, text,
        "the labels changed (LABELS=overwrite rewrites tests/labels.txt)"
    );
}

/// Kinds that mean the same thing in two crates share a label (the JSON reader cannot tell the
/// crates apart, and need not).
#[test]
fn shared_meanings_share_labels() {
    assert_eq!(
        ErrorKind::Read(tf_bundle::ErrorCode::KeyNotFound).label(),
        ErrorKind::Map(param_map::MapErrorKind::KeyNotFound).label()
    );
    assert_eq!(
        ErrorKind::Convert(convert::ErrorCode::Read(tf_bundle::ErrorCode::Checksum)).label(),
        ErrorKind::Read(tf_bundle::ErrorCode::Checksum).label()
    );
}
