//! `returnn-ckpt epochs CONFIG [++key value]... [--json] [--best [KEY]]`: the existing epochs
//! of the config's model, their files, learning rates and scores, and the best epoch
//! (`engine::epochs`).
//!
//! JSON: `{"model", "final_epoch", "learning_rate_file", "epochs": [{"epoch", "path",
//! "pretrain", "files", "learning_rate", "scores"}], "tf_checkpoint_state", "best": {"key",
//! "epoch", "value", "path"}, "notes"}`.

use std::path::PathBuf;
use std::process::ExitCode;

use engine::epochs::EpochsReport;

use crate::args::{load_config_call, Own, WorkDir};
use crate::out::{fail, print_json, print_notes, print_out, Fail};

#[derive(clap::Args)]
pub struct Args {
    /// RETURNN config file.
    pub config: PathBuf,
    /// RETURNN's command line: `++key value` overrides (`+-0.1` gives `-0.1`) and its options
    /// (`--task eval`, ...)
    #[arg(num_args = 0.., allow_hyphen_values = true, trailing_var_arg = true, value_name = "++KEY VALUE")]
    pub overrides: Vec<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Pick the best existing epoch by this score key (lowest value); without a key, the
    /// default key of the last scored epoch.
    #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "KEY")]
    pub best: Option<String>,
    #[command(flatten)]
    pub dir: WorkDir,
    /// List config statements that were not evaluated.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

pub fn run(args: Args) -> Result<ExitCode, Fail> {
    let call = load_config_call(
        &args.config,
        &args.overrides,
        &[Own::Json, Own::Verbose, Own::Best, Own::Cwd],
        &args.dir,
        args.json,
        args.verbose,
    )?;
    let best = args
        .best
        .clone()
        .or(call.flags.best.clone().map(|b| b.unwrap_or_default()));
    let out = engine::epochs::run_loaded(&call.loaded, best).map_err(fail(call.json))?;
    if call.json {
        print_json(&out);
    } else {
        print_out(&human(&out));
        print_notes(&out.notes, false);
    }
    Ok(ExitCode::SUCCESS)
}

fn human(out: &EpochsReport) -> String {
    let mut s = format!(
        "model: {}  (epochs scanned: 1..={})\n",
        if out.model.is_empty() {
            "<unset>"
        } else {
            &out.model
        },
        out.final_epoch
    );
    if let Some(p) = &out.learning_rate_file {
        s.push_str(&format!("learning-rate file: {p}\n"));
    }
    if out.epochs.is_empty() {
        s.push_str("no existing epochs\n");
    }
    for e in &out.epochs {
        let lr = e
            .learning_rate
            .map(|x| format!("  lr {}", engine::py_float_repr(x)))
            .unwrap_or_default();
        let scores = e
            .scores
            .as_ref()
            .map(|sc| {
                sc.iter()
                    .map(|(k, v)| format!("{k} {}", engine::py_float_repr(*v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|sc| !sc.is_empty())
            .map(|sc| format!("  {sc}"))
            .unwrap_or_default();
        s.push_str(&format!("{:>5}  {}{lr}{scores}\n", e.epoch, e.path));
        for f in &e.files {
            s.push_str(&format!("         {f}\n"));
        }
    }
    if let Some(st) = &out.tf_checkpoint_state {
        s.push_str(&format!(
            "TF state file {}: latest {}\n",
            st.file, st.latest
        ));
    }
    if let Some(b) = &out.best {
        s.push_str(&format!(
            "best by {}: epoch {} ({}) = {}\n",
            b.key,
            b.epoch,
            b.path,
            engine::py_float_repr(b.value)
        ));
    }
    s
}
