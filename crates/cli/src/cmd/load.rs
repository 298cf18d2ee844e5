//! `returnn-ckpt load` (not built yet: see the open issue that owns it).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'load' is not implemented yet")
}
