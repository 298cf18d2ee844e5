//! `returnn-ckpt convert PATH OUT`: a TF checkpoint to `.safetensors` (streaming; see the
//! `convert` crate), or with `--to tf` a `.safetensors` file back to a TF bundle prefix.
//!
//! Skipped tensors get one line each on stderr (`skipped NAME (DTYPE): REASON`); `--strict`
//! turns any skip into an error before anything is written. The output appears atomically
//! (temp file in the destination directory, fsync, rename); an existing output is replaced only
//! with `--force`. A progress bar is drawn on stderr when it is a terminal and the work takes
//! more than about a second.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use convert::select::Selection;
use convert::to_safetensors::{Options, StringPolicy};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tf_bundle::{Checkpoint, OpenOptions};

/// Output format of `convert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum To {
    /// A `.safetensors` file (default unless PATH is a `.safetensors` file).
    Safetensors,
    /// A TF bundle: OUT is a prefix (`OUT.index`, `OUT.data-00000-of-00001`). From a
    /// `.safetensors` file (the way back) or from a TF checkpoint (V1 or multi-shard to one
    /// V2 bundle, with --include/--exclude/--rename/--no-optimizer).
    Tf,
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
    /// or a `.safetensors` file (converted to a TF bundle).
    pub path: PathBuf,
    /// Output: a `.safetensors` file, or with `--to tf` a bundle prefix.
    pub out: PathBuf,
    /// Output format (default: tf if PATH ends in `.safetensors`, else safetensors).
    #[arg(long, value_enum)]
    pub to: Option<To>,
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
    /// Memory-map the data shards instead of positioned reads (explicit opt-in). Risk: if
    /// another process truncates a shard while it is mapped, this process dies with SIGBUS
    /// instead of reporting an error; use it only on files nothing else is writing.
    #[arg(long)]
    pub mmap: bool,
}

/// A progress bar on stderr that appears only on a terminal, and only once the work has run
/// for about a second.
pub struct Bar {
    bar: ProgressBar,
    start: Instant,
    tty: bool,
    shown: bool,
}

impl Bar {
    /// A hidden bar for `what` (shown later if the work is slow and stderr is a terminal).
    pub fn new(what: &str) -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} tensors ({elapsed})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        Bar {
            bar,
            start: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    /// Reports progress.
    pub fn update(&mut self, p: &convert::Progress) {
        if !self.shown && self.tty && self.start.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar.enable_steady_tick(Duration::from_millis(250));
            self.shown = true;
        }
        self.bar.set_length(p.total);
        self.bar.set_position(p.done);
    }

    /// Removes the bar.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// Writes `text` to stdout; a closed pipe (`| head`) ends the output quietly instead of
/// panicking like `println!`.
pub fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Refuses to replace an existing output unless `force`.
pub fn check_output(paths: &[PathBuf], force: bool) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    if let Some(p) = paths.iter().find(|p| p.exists()) {
        bail!("{} already exists (use --force to replace it)", p.display());
    }
    Ok(())
}

/// `PREFIX.index` and `PREFIX.data-00000-of-00001`.
pub fn bundle_files(prefix: &Path) -> Vec<PathBuf> {
    vec![
        tf_bundle::write::index_file_name(prefix),
        tf_bundle::write::data_file_name(prefix, 0, 1),
    ]
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let selection = Selection::new(
        &args.include,
        &args.exclude,
        &args.rename,
        args.no_optimizer,
    )?;
    let to = args.to.unwrap_or(
        if args.path.extension().is_some_and(|e| e == "safetensors") {
            To::Tf
        } else {
            To::Safetensors
        },
    );
    let open_options = OpenOptions {
        mmap: args.mmap,
        ..OpenOptions::default()
    };
    let mut bar = Bar::new("convert");
    match to {
        To::Tf if args.path.extension().is_none_or(|e| e != "safetensors") => {
            check_output(&bundle_files(&args.out), args.force)?;
            let ckpt = Checkpoint::open_with(&args.path, &open_options)
                .with_context(|| format!("opening {}", args.path.display()))?;
            if bundle_files(&args.out)
                .iter()
                .any(|f| is_checkpoint_file(ckpt.prefix(), f))
            {
                bail!(
                    "{} is the input checkpoint; choose another output prefix",
                    args.out.display()
                );
            }
            let report = convert::to_tf::checkpoint_to_tf(
                &ckpt,
                &args.out,
                &selection,
                args.strict,
                &mut |p| bar.update(p),
            )?;
            bar.finish();
            print_tf_report(&args.out, &report)?;
        }
        To::Tf => {
            check_output(&bundle_files(&args.out), args.force)?;
            let report = convert::to_tf::safetensors_to_tf(
                &args.path,
                &args.out,
                &selection,
                args.strict,
                &mut |p| bar.update(p),
            )?;
            bar.finish();
            print_tf_report(&args.out, &report)?;
        }
        To::Safetensors => {
            check_output(std::slice::from_ref(&args.out), args.force)?;
            let ckpt = Checkpoint::open_with(&args.path, &open_options)
                .with_context(|| format!("opening {}", args.path.display()))?;
            if is_checkpoint_file(ckpt.prefix(), &args.out) {
                bail!(
                    "{} is a file of the input checkpoint; choose another output",
                    args.out.display()
                );
            }
            let opts = Options {
                selection,
                strict: args.strict,
                strings: match args.strings {
                    Strings::Skip => StringPolicy::Skip,
                    Strings::Metadata => StringPolicy::Metadata,
                },
                float8: args.float8,
            };
            let report =
                convert::to_safetensors::to_safetensors(&ckpt, &args.out, &opts, &mut |p| {
                    bar.update(p)
                })?;
            bar.finish();
            for s in &report.skipped {
                match s.dtype {
                    Some(d) => eprintln!("skipped {} ({d}): {}", s.name, s.reason),
                    None => eprintln!("skipped {}: {}", s.name, s.reason),
                }
            }
            print_out(&format!(
                "wrote {} ({} tensors, {} bytes{})\n",
                args.out.display(),
                report.tensors.len(),
                report.bytes,
                skipped_note(report.skipped.len())
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// True if `path` is one of the files of the checkpoint at `prefix` (`PREFIX.index`,
/// `PREFIX.meta`, `PREFIX.data-*`); `PREFIX.safetensors` is not.
pub fn is_checkpoint_file(prefix: &Path, path: &Path) -> bool {
    let (Some(dir), Some(base)) = (prefix.parent(), prefix.file_name()) else {
        return false;
    };
    let (Some(pdir), Some(pname)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let canon = |d: &Path| {
        let d = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        d.canonicalize().ok()
    };
    let (base, pname) = (base.to_string_lossy(), pname.to_string_lossy());
    let Some(rest) = pname
        .strip_prefix(base.as_ref())
        .and_then(|r| r.strip_prefix('.'))
    else {
        return false;
    };
    (rest == "index" || rest == "meta" || rest.starts_with("data-"))
        && canon(dir).is_some()
        && canon(dir) == canon(pdir)
}

/// The skip lines (stderr) and the summary line of a conversion to a TF bundle.
fn print_tf_report(out: &Path, report: &convert::to_tf::Report) -> anyhow::Result<()> {
    for s in &report.skipped {
        eprintln!("skipped {}: {}", s.name, s.reason);
    }
    print_out(&format!(
        "wrote {} ({} tensors{})\n",
        out.display(),
        report.tensors.len(),
        skipped_note(report.skipped.len())
    ))
}

fn skipped_note(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} skipped")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_files_are_recognised() {
        let dir = std::env::temp_dir();
        let p = dir.join("model.ckpt");
        assert!(is_checkpoint_file(&p, &dir.join("model.ckpt.index")));
        assert!(is_checkpoint_file(
            &p,
            &dir.join("model.ckpt.data-00000-of-00001")
        ));
        assert!(is_checkpoint_file(&p, &dir.join("model.ckpt.meta")));
        assert!(!is_checkpoint_file(&p, &dir.join("model.ckpt.safetensors")));
        assert!(!is_checkpoint_file(&p, &dir.join("model.ckpt2.index")));
        assert!(!is_checkpoint_file(&p, &dir.join("other.index")));
    }
}
