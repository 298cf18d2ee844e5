//! Property tests: epoch file names round-trip through the epoch parser; the pattern strips
//! exactly one suffix; the learning-rate parser never panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::Path;

use model_files::{epoch_from_basename, epoch_model_filename, get_checkpoint_filepattern, LrFile};
use proptest::prelude::*;

proptest! {
    #[test]
    fn epoch_filename_round_trip(
        model in "[a-z0-9_./-]{0,20}",
        epoch in 1i64..=i64::MAX,
        pretrain in any::<bool>(),
    ) {
        let name = epoch_model_filename(&model, epoch, pretrain);
        prop_assert_eq!(epoch_from_basename(&name).unwrap(), Some(epoch as u64));
        for ext in [".meta", ".index", ".pt"] {
            let with = format!("{name}{ext}");
            prop_assert_eq!(get_checkpoint_filepattern(&with), name.as_str());
        }
    }

    #[test]
    fn pattern_strips_at_most_one_suffix(p in "[a-z.]{0,12}", ext in "(\\.meta|\\.index|\\.pt)") {
        let once = format!("{p}{ext}");
        prop_assert_eq!(get_checkpoint_filepattern(&once), p.as_str());
        let twice = format!("{p}{ext}{ext}");
        prop_assert_eq!(get_checkpoint_filepattern(&twice), once.as_str());
    }

    #[test]
    fn lr_parser_never_panics(text in "\\PC{0,300}") {
        let _ = LrFile::parse(&text, Path::new("x"));
        let _ = LrFile::parse(&format!("{{1: EpochData(learningRate={text}, error={{}})}}"), Path::new("x"));
    }
}
