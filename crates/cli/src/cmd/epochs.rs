//! `returnn-ckpt epochs CONFIG [++key value]... [--json] [--best [KEY]]`: the existing epochs
//! of the config's model, their files, learning rates and scores, and the best epoch
//! (`engine::epochs`).
//!
//! JSON: `{"model", "final_epoch", "learning_rate_file", "epochs": [{"epoch", "path",
//! "pretrain", "files", "learning_rate", "scores"}], "tf_checkpoint_state", "best": {"key",
//! "epoch", "value", "path"}, "notes"}`; with `--plot FILE` also `"plot": "FILE"`.
//!
//! `--plot curve.svg` / `curve.png` draws the learning-rate-control file (`engine::plot`):
//! every score key per epoch, the learning rate, the best epoch and the epochs `cleanup` keeps.

use std::path::PathBuf;
use std::process::ExitCode;

use engine::epochs::EpochsReport;

use crate::args::{load_config_call, Own, WorkDir};
use crate::out::{fail, plural, print_json, print_notes, print_out, usage, Fail};

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
    /// Draw the learning-rate-control file to FILE (.svg or .png): every score key per epoch,
    /// the learning rate (own panel, log scale over decades), the best epoch (by --best KEY,
    /// else the default key) and the epochs `cleanup` keeps. Text in PNGs uses an embedded
    /// font
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// The picture's size in pixels (SVG: its viewport)
    #[arg(long, value_name = "WxH", default_value = "1024x768")]
    pub plot_size: String,
    /// Replace an existing --plot FILE.
    #[arg(long)]
    pub force: bool,
}

/// `WxH` as two numbers.
fn parse_size(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.split_once(['x', 'X'])?;
    Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
}

pub fn run(args: Args) -> Result<ExitCode, Fail> {
    let call = load_config_call(
        &args.config,
        &args.overrides,
        &[
            Own::Json,
            Own::Verbose,
            Own::Best,
            Own::Cwd,
            Own::Plot,
            Own::Force,
        ],
        &args.dir,
        args.json,
        args.verbose,
    )?;
    let best = args
        .best
        .clone()
        .or(call.flags.best.clone().map(|b| b.unwrap_or_default()));
    let plot_path = call.flags.plot.clone().or(args.plot.clone());
    let size = call
        .flags
        .plot_size
        .clone()
        .unwrap_or(args.plot_size.clone());
    let plot_req = match plot_path {
        None => None,
        Some(p) => {
            let Some((width, height)) = parse_size(&size) else {
                return Err(usage(
                    call.json,
                    format!("--plot-size {size}: expected WIDTHxHEIGHT in pixels, e.g. 1024x768"),
                ));
            };
            let dir = WorkDir {
                cwd: call.flags.cwd.clone().or(args.dir.cwd.clone()),
            };
            Some(engine::plot::PlotRequest {
                out: dir.command_line_path(&p),
                force: args.force || call.flags.force,
                width,
                height,
            })
        }
    };
    let out = engine::epochs::run_loaded(&call.loaded, best.clone()).map_err(fail(call.json))?;
    let plot = match &plot_req {
        Some(req) => {
            Some(engine::plot::write(&call.loaded, best.as_deref(), req).map_err(fail(call.json))?)
        }
        None => None,
    };
    if call.json {
        print_json(&engine::plot::WithPlot {
            report: &out,
            plot: plot.as_ref().map(|p| p.path.clone()),
        });
    } else {
        let mut text = human(&out);
        if let Some(p) = &plot {
            text.push_str(&plot_line(p));
        }
        print_out(&text);
        print_notes(&out.notes, false);
    }
    Ok(ExitCode::SUCCESS)
}

fn plot_line(p: &engine::plot::PlotSummary) -> String {
    let series = p
        .series
        .iter()
        .map(|(k, n)| format!("{k} ({})", plural(*n, "point", "points")))
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = format!("plot: {}\n", p.path);
    s.push_str(&format!(
        "  scores: {}\n",
        if series.is_empty() { "none" } else { &series }
    ));
    s.push_str(&format!(
        "  learning rate: {}{}\n",
        plural(p.learning_rates, "epoch", "epochs"),
        if p.lr_log_scale { ", log scale" } else { "" }
    ));
    let best = p
        .best
        .as_ref()
        .map(|(e, k)| format!("{e} (by {k})"))
        .unwrap_or_else(|| "none".to_string());
    let kept = p
        .kept
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    s.push_str(&format!(
        "  best epoch: {best}; kept by cleanup: [{kept}]\n"
    ));
    s
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
