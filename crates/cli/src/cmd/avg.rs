//! `returnn-ckpt avg PATH... --out OUT`: the element-wise mean of the floating-point tensors of
//! several checkpoints, written as a TF bundle at the prefix OUT (see `convert::avg`: integer
//! tensors such as `global_step` come from the last input; names, dtypes and shapes must match
//! unless `--ignore-missing`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use tf_bundle::Checkpoint;

use super::convert::{bundle_files, check_output, print_out, Bar};

#[derive(clap::Args)]
pub struct Args {
    /// The checkpoints to average (prefixes, PREFIX.index, directories with a `checkpoint` file).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output bundle prefix (`OUT.index`, `OUT.data-00000-of-00001`).
    #[arg(long)]
    pub out: PathBuf,
    /// Average a tensor missing from some inputs over the inputs that have it.
    #[arg(long)]
    pub ignore_missing: bool,
    /// Replace an existing output.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let outputs = bundle_files(&args.out);
    check_output(&outputs, args.force)?;
    let mut inputs = Vec::with_capacity(args.paths.len());
    for p in &args.paths {
        let c = Checkpoint::open(p).with_context(|| format!("opening {}", p.display()))?;
        inputs.push(c);
    }
    // never overwrite an input
    for c in &inputs {
        let files = bundle_files(c.prefix());
        if files
            .iter()
            .any(|f| outputs.iter().any(|o| same_file(f, o)))
        {
            bail!(
                "--out {} would overwrite the input {}",
                args.out.display(),
                c.prefix().display()
            );
        }
    }
    let mut bar = Bar::new("avg");
    let report = convert::avg::average(&inputs, &args.out, args.ignore_missing, &mut |p| {
        bar.update(p)
    })?;
    bar.finish();
    for (name, n) in &report.partial {
        eprintln!(
            "note: {name} is in {n} of {} inputs; averaged over those",
            inputs.len()
        );
    }
    print_out(&format!(
        "wrote {}: {} tensors averaged over {} checkpoints, {} taken from the last input\n",
        args.out.display(),
        report.averaged.len(),
        inputs.len(),
        report.copied_from_last.len()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
