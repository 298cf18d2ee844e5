//! `returnn-ckpt cleanup CONFIG [++key value]... [--apply] [--json]`: which epochs RETURNN's
//! `cleanup_old_models` keeps and deletes, and the files concerned (`engine::cleanup`). A dry
//! run unless `--apply`, which deletes exactly the listed files (by exact name: deleting epoch
//! 100 never touches `network.1000.*`).
//!
//! JSON: `{"stored", "keep", "delete", "files": {"N": [{"path", "bytes"}]}, "bytes", "applied",
//! "log"}`.

use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Delete the files (default: dry run, only list them).
    #[arg(long)]
    pub apply: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
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
        &[Own::Json, Own::Verbose, Own::Apply, Own::Cwd],
        &args.dir,
        args.json,
        args.verbose,
    )?;
    let r = engine::cleanup::run_loaded(&call.loaded, args.apply || call.flags.apply)
        .map_err(fail(call.json))?;
    if call.json {
        print_json(&r);
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = format!("stored epochs: {:?}\n", r.stored);
    s.push_str(&format!("keep:          {:?}\n", r.keep));
    s.push_str(&format!("delete:        {:?}\n", r.delete));
    for (e, files) in &r.files {
        for f in files {
            s.push_str(&format!(
                "  {} epoch {e}: {} ({})\n",
                if r.applied { "deleted" } else { "would delete" },
                f.path,
                engine::cleanup::human_size(f.bytes)
            ));
        }
    }
    for l in &r.log {
        s.push_str(l);
        s.push('\n');
    }
    print_out(&s);
    print_notes(&r.notes, false);
    Ok(ExitCode::SUCCESS)
}
