//! `returnn-ckpt verify`: read every tensor and check every CRC and structural rule of a
//! checkpoint, a `.pt` file or a `.safetensors` file (`engine::verify`). Exit 0 when all is well; otherwise 1 with one line per
//! problem naming the file, the key and what is wrong.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::out::{fail, plural, print_json, print_notes, print_out, Fail, NEGATIVE};
use crate::progress::Bar;

#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint: a prefix, PREFIX.index/.meta/.data-*, a directory with a `checkpoint` file,
    /// a V1 file / glob, a PyTorch `.pt` file or a `.safetensors` file.
    pub path: PathBuf,
    /// Memory-map the data shards instead of positioned reads (explicit opt-in). Risk: if
    /// another process truncates a shard while it is mapped, this process dies with SIGBUS
    /// instead of reporting an error; use it only on files nothing else is writing.
    #[arg(long)]
    pub mmap: bool,
    /// Machine-readable output: `{"path", "format", "num_shards", "tensors", "ok",
    /// "problems": [{"kind", "path", "key", "message"}], "notes"}`.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, quiet: bool) -> Result<ExitCode, Fail> {
    let bar = Bar::new(quiet || args.json);
    let r = engine::verify::run(
        &engine::verify::VerifyRequest {
            path: args.path,
            mmap: args.mmap,
        },
        &bar,
    )
    .map_err(fail(args.json))?;
    let code = if r.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NEGATIVE)
    };
    if args.json {
        print_json(&r);
        return Ok(code);
    }
    print_notes(&r.notes, false);
    for p in &r.problems {
        eprintln!("problem[{}]: {}", p.kind, p.message);
    }
    if r.ok {
        let shards = r
            .num_shards
            .map(|n| format!(", {}", plural(n as usize, "shard", "shards")))
            .unwrap_or_default();
        print_out(&format!(
            "{}: ok ({}, format {}{shards})\n",
            r.path,
            plural(r.tensors, "tensor", "tensors"),
            r.format,
        ));
    } else {
        print_out(&format!(
            "{}: {} found\n",
            r.path,
            plural(r.problems.len(), "problem", "problems")
        ));
    }
    Ok(code)
}
