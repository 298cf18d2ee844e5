//! `returnn-ckpt verify`: read every tensor and check every CRC and structural rule of a
//! checkpoint. Exit 0 when all is well; otherwise 1 with one line per problem naming the
//! file, the key and what is wrong.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tf_bundle::{Checkpoint, OpenOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint: a prefix, PREFIX.index/.meta/.data-*, a directory with a `checkpoint` file,
    /// or a V1 file / glob.
    pub path: PathBuf,
    /// Memory-map the data shards instead of positioned reads (explicit opt-in). Risk: if
    /// another process truncates a shard while it is mapped, this process dies with SIGBUS
    /// instead of reporting an error; use it only on files nothing else is writing.
    #[arg(long)]
    pub mmap: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ck = Checkpoint::open_with(
        &args.path,
        &OpenOptions {
            mmap: args.mmap,
            ..OpenOptions::default()
        },
    )
    .with_context(|| format!("cannot open checkpoint {}", args.path.display()))?;
    let errors = ck.verify_all();
    for e in &errors {
        eprintln!("returnn-ckpt: verify: [{}] {e}", e.kind().label());
    }
    if errors.is_empty() {
        println!(
            "{}: ok ({} tensors, format {}, {} shard(s))",
            ck.prefix().display(),
            ck.tensors().len(),
            ck.format(),
            ck.num_shards()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "returnn-ckpt: verify: {}: {} problem(s) found",
            ck.prefix().display(),
            errors.len()
        );
        Ok(ExitCode::from(1))
    }
}
