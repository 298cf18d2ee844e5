//! `returnn-ckpt cleanup CONFIG [++key value]... [--apply] [--json]`: which epochs RETURNN's
//! `cleanup_old_models` keeps and deletes, and the files concerned (`engine::cleanup`). A dry
//! run unless `--apply`, which deletes exactly the listed files (by exact name: deleting epoch
//! 100 never touches `network.1000.*`).
//!
//! JSON: `{"stored", "keep", "delete", "files": {"N": [{"path", "bytes"}]}, "bytes", "applied",
//! "log"}`.

use std::path::PathBuf;
use std::process::ExitCode;

use engine::config::{self, ConfigRequest};

use crate::args::{print_config_info, split_trailing, Own, WorkDir};
use crate::out::{fail_kind, print_json_pretty, print_out, ErrorDoc};

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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let flags = split_trailing(
        &args.overrides,
        &[Own::Json, Own::Verbose, Own::Apply, Own::Cwd],
    )?;
    let dir = WorkDir {
        cwd: flags.cwd.clone().or(args.dir.cwd.clone()),
    };
    let json = args.json || flags.json;
    let doc = if json {
        ErrorDoc::Pretty
    } else {
        ErrorDoc::Text
    };
    let req = ConfigRequest::file(
        dir.command_line_path(&args.config),
        flags.returnn_args.clone(),
        dir.base(),
    );
    let loaded = match config::load_for_selection(&req) {
        Ok(c) => c,
        Err(e) => return fail_kind(&e, doc),
    };
    print_config_info(&loaded, args.verbose || flags.verbose);
    let r = match engine::cleanup::run_loaded(&loaded, args.apply || flags.apply) {
        Ok(r) => r,
        Err(e) => return fail_kind(&e, doc),
    };
    if json {
        print_json_pretty(&r)?;
    } else {
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
        print_out(&s)?;
    }
    Ok(ExitCode::SUCCESS)
}
