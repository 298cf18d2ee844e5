//! `returnn-ckpt convert PATH OUT`: a TF checkpoint to `.safetensors`, or with `--to tf` to one
//! V2 bundle, or a `.safetensors` file back to a TF bundle prefix; any input (TF, `.pt`,
//! `.safetensors`) to a RETURNN PyTorch-engine `.pt` (`OUT.pt` or `--to pt`), and a `.pt` to
//! safetensors or TF (`engine::convert`).
//!
//! Skipped tensors get one line each on stderr (`skipped NAME (DTYPE): REASON`); `--strict`
//! turns any skip into an error before anything is written. The output appears atomically; an
//! existing output is replaced only with `--force`. A progress bar is drawn on stderr when it
//! is a terminal and the work takes more than about a second.

use std::path::PathBuf;
use std::process::ExitCode;

use engine::convert::{ConvertRequest, ConvertTo, Strings as StringsPolicy};

use crate::args::WorkDir;
use crate::out::{fail, plural, print_json, print_notes, print_out, Fail};
use crate::progress::Bar;

/// Output format of `convert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum To {
    /// A `.safetensors` file (default if OUT ends in `.safetensors` or PATH does not).
    Safetensors,
    /// A TF bundle: OUT is a prefix (`OUT.index`, `OUT.data-00000-of-00001`). From a
    /// `.safetensors` file (the way back) or from a TF checkpoint (V1 or multi-shard to one
    /// V2 bundle, with --include/--exclude/--rename/--no-optimizer).
    Tf,
    /// A RETURNN PyTorch-engine checkpoint `{"model", "epoch", "step",
    /// "effective_learning_rate", "returnn_version"}` (default when OUT ends in `.pt`).
    Pt,
}

/// What `--strings` does with string tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Strings {
    /// Skip them (one line each on stderr).
    Skip,
    /// Store small ones (≤ 64 KiB) in `__metadata__` as `string:<name>`.
    Metadata,
}

#[derive(clap::Args)]
pub struct Args {
    /// Input: a checkpoint (prefix, PREFIX.index, directory with a `checkpoint` file, V1 file),
    /// a `.safetensors` file (converted to a TF bundle by default) or a PyTorch `.pt` file.
    pub path: PathBuf,
    /// Output: a `.safetensors` file, a `.pt` file, or with `--to tf` a bundle prefix.
    pub out: PathBuf,
    /// Output format (default: pt if OUT ends in `.pt`, safetensors if it ends in
    /// `.safetensors`, else tf if PATH ends in `.safetensors`, else safetensors).
    #[arg(long, value_enum)]
    pub to: Option<To>,
    /// `.pt` output: the `epoch` entry (default: the input's file name as RETURNN reads it,
    /// else the epoch the input stores, else 1).
    #[arg(long, value_name = "N")]
    pub epoch: Option<i64>,
    /// `.pt` output: the `step` entry (default: the input's step or `global_step`, else 0).
    #[arg(long, value_name = "N")]
    pub step: Option<i64>,
    /// `.pt` output: the run's learning-rate file (`newbob.data`); its learning rate of the
    /// epoch becomes `effective_learning_rate`.
    #[arg(long, value_name = "FILE")]
    pub lr_file: Option<PathBuf>,
    /// `.pt` output: the run's config, whose `learning_rate_file` gives
    /// `effective_learning_rate` (paths in it resolve against -C DIR, default the current
    /// directory).
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub workdir: WorkDir,
    /// Fail instead of skipping tensors the output cannot hold.
    #[arg(long)]
    pub strict: bool,
    /// String tensors: skip, or store small ones in `__metadata__`.
    #[arg(long, value_enum, default_value = "skip")]
    pub strings: Strings,
    /// Keep only tensors whose name matches REGEX (repeatable: any of them).
    #[arg(long, value_name = "REGEX")]
    pub include: Vec<String>,
    /// Drop tensors whose name matches REGEX (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub exclude: Vec<String>,
    /// Rename: REGEX=REPLACEMENT, all matches, `$1` for groups (repeatable, applied in order).
    #[arg(long, value_name = "REGEX=REPLACEMENT")]
    pub rename: Vec<String>,
    /// Drop optimizer state: `*/Adam`, `*/Adam_1`, `*beta1_power`, `*beta2_power`,
    /// `*/.OPTIMIZER_SLOT/*`, `optimizer/*` (but not `optimizer/_trainable_variables/*`).
    #[arg(long)]
    pub no_optimizer: bool,
    /// Map float8_e4m3fn/e5m2(/fnuz) to safetensors F8_* instead of skipping them.
    #[arg(long)]
    pub float8: bool,
    /// Replace an existing output.
    #[arg(long)]
    pub force: bool,
    /// Leave out tensors that cannot be read (TensorFlow cannot read them either) instead of
    /// failing.
    #[arg(long)]
    pub skip_unreadable: bool,
    /// Write an output even when the filters leave no tensor.
    #[arg(long)]
    pub allow_empty: bool,
    /// Machine-readable output: `{"out", "format", "tensors", "bytes", "skipped": [{"name",
    /// "dtype", "reason"}], "notes"}`.
    #[arg(long)]
    pub json: bool,
    /// Memory-map the data shards instead of positioned reads (explicit opt-in). Risk: if
    /// another process truncates a shard while it is mapped, this process dies with SIGBUS
    /// instead of reporting an error; use it only on files nothing else is writing.
    #[arg(long)]
    pub mmap: bool,
}

pub fn run(args: Args, quiet: bool) -> Result<ExitCode, Fail> {
    let json = args.json;
    let req = ConvertRequest {
        path: args.path,
        out: args.out,
        to: args.to.map(|t| match t {
            To::Safetensors => ConvertTo::Safetensors,
            To::Tf => ConvertTo::Tf,
            To::Pt => ConvertTo::Pt,
        }),
        strict: args.strict,
        strings: match args.strings {
            Strings::Skip => StringsPolicy::Skip,
            Strings::Metadata => StringsPolicy::Metadata,
        },
        include: args.include,
        exclude: args.exclude,
        rename: args.rename,
        no_optimizer: args.no_optimizer,
        float8: args.float8,
        force: args.force,
        mmap: args.mmap,
        skip_unreadable: args.skip_unreadable,
        allow_empty: args.allow_empty,
        epoch: args.epoch,
        step: args.step,
        lr_file: args.lr_file,
        config: args.config.map(|c| {
            engine::config::ConfigRequest::file(
                args.workdir.command_line_path(&c),
                Vec::new(),
                args.workdir.base(),
            )
        }),
    };
    let bar = Bar::new(quiet || args.json);
    let r = engine::convert::run(&req, &bar).map_err(fail(json))?;
    if json {
        print_json(&r);
        return Ok(ExitCode::SUCCESS);
    }
    print_notes(&r.notes, false);
    print_skipped(&r.skipped);
    if let Some(m) = &r.metadata {
        let lr = m
            .effective_learning_rate
            .map_or_else(|| "None".to_string(), |v| engine::py_float_repr(v.0));
        eprintln!(
            "note: epoch {}, step {}, effective_learning_rate {lr}, returnn_version {}",
            m.epoch.unwrap_or_default(),
            m.step.unwrap_or_default(),
            m.returnn_version.as_deref().unwrap_or("")
        );
    }
    let skipped = if r.skipped.is_empty() {
        String::new()
    } else {
        format!(", {} skipped", r.skipped.len())
    };
    let tensors = plural(r.tensors, "tensor", "tensors");
    match r.bytes {
        Some(b) => print_out(&format!(
            "wrote {} ({tensors}, {}{skipped})\n",
            r.out,
            plural(b as usize, "byte", "bytes")
        )),
        None => print_out(&format!("wrote {} ({tensors}{skipped})\n", r.out)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Skipped tensors on stderr, grouped by reason.
fn print_skipped(skipped: &[engine::convert::SkippedTensor]) {
    let mut by_reason: Vec<(&str, Vec<String>)> = Vec::new();
    for s in skipped {
        let name = match &s.dtype {
            Some(d) => format!("{} ({d})", s.name),
            None => s.name.clone(),
        };
        match by_reason.iter_mut().find(|(r, _)| *r == s.reason) {
            Some((_, names)) => names.push(name),
            None => by_reason.push((&s.reason, vec![name])),
        }
    }
    for (reason, names) in by_reason {
        eprintln!(
            "skipped {}: {reason}: {}",
            plural(names.len(), "tensor", "tensors"),
            names.join(", ")
        );
    }
}
