//! `returnn-ckpt verify`: read every tensor and check every CRC and structural rule of a
//! checkpoint (`engine::verify`). Exit 0 when all is well; otherwise 1 with one line per
//! problem naming the file, the key and what is wrong.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::out::print_out;
use crate::progress::Bar;

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
    let bar = Bar::new();
    let r = engine::verify::run(
        &engine::verify::VerifyRequest {
            path: args.path,
            mmap: args.mmap,
        },
        &bar,
    )?;
    for p in &r.problems {
        eprintln!("returnn-ckpt: verify: [{}] {}", p.kind, p.message);
    }
    if r.ok {
        print_out(&format!(
            "{}: ok ({} tensors, format {}, {} shard(s))\n",
            r.path, r.tensors, r.format, r.num_shards
        ))?;
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "returnn-ckpt: verify: {}: {} problem(s) found",
            r.path,
            r.problems.len()
        );
        Ok(ExitCode::from(1))
    }
}
