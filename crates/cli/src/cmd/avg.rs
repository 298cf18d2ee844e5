//! `returnn-ckpt avg PATH... --out OUT`: the element-wise mean of the floating-point tensors of
//! several checkpoints, written as a TF bundle at the prefix OUT, or of several RETURNN `.pt`
//! checkpoints as RETURNN's `tools/torch_avg_checkpoints.py` does, written as the `.pt` file OUT
//! (`engine::avg`).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::out::{fail, plural, print_json, print_notes, print_out, Fail};
use crate::progress::Bar;

#[derive(clap::Args)]
pub struct Args {
    /// The checkpoints to average (prefixes, PREFIX.index, directories with a `checkpoint` file),
    /// or RETURNN PyTorch-engine `.pt` files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output: a bundle prefix (`OUT.index`, `OUT.data-00000-of-00001`) for TF inputs, a `.pt`
    /// file for `.pt` inputs.
    #[arg(long)]
    pub out: PathBuf,
    /// Average a tensor missing from some inputs over the inputs that have it.
    #[arg(long)]
    pub ignore_missing: bool,
    /// Replace an existing output.
    #[arg(long)]
    pub force: bool,
    /// Machine-readable output: `{"out", "inputs", "averaged", "copied_from_last", "partial":
    /// [{"name", "inputs"}], "metadata"? (`.pt`: epoch, step, effective_learning_rate,
    /// returnn_version written), "notes"}`.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, quiet: bool) -> Result<ExitCode, Fail> {
    let bar = Bar::new(quiet || args.json);
    let json = args.json;
    let r = engine::avg::run(
        &engine::avg::AvgRequest {
            paths: args.paths,
            out: args.out,
            ignore_missing: args.ignore_missing,
            force: args.force,
        },
        &bar,
    )
    .map_err(fail(json))?;
    if json {
        print_json(&r);
        return Ok(ExitCode::SUCCESS);
    }
    print_notes(&r.notes, false);
    for p in &r.partial {
        eprintln!(
            "note: {} is in {} of {} inputs; averaged over those",
            p.name, p.inputs, r.inputs
        );
    }
    print_out(&format!(
        "wrote {}: {} averaged over {}, {} taken from the last input\n",
        r.out,
        plural(r.averaged.len(), "tensor", "tensors"),
        plural(r.inputs, "checkpoint", "checkpoints"),
        r.copied_from_last.len()
    ));
    Ok(ExitCode::SUCCESS)
}
