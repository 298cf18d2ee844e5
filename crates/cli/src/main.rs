//! # returnn-ckpt (the command-line tool)
//!
//! Owns everything a user sees: argument parsing (clap), human and JSON output, progress bars,
//! error messages and exit codes. All work is done by the library layer (`engine`), whose
//! reports this crate prints (`--json` is exactly their `serde_json`); it never parses a file
//! format or implements a RETURNN rule itself, and no subcommand module uses another.
//!
//! Exit codes: 0 success; 1 the command ran and found a problem (a RETURNN error, a corrupt
//! tensor, differing checkpoints, ...); 2 bad usage (clap).
// The face: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod args;
mod cmd;
mod out;
mod plan_view;
mod progress;

#[derive(Parser)]
#[command(name = "returnn-ckpt", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the tensors of a checkpoint (name, dtype, shape), optionally with stats/values/digests.
    Inspect(cmd::inspect::Args),
    /// Read every tensor and check every CRC and structural rule.
    Verify(cmd::verify::Args),
    /// Which checkpoint RETURNN loads for a config, at which epoch, and where training continues.
    Resolve(cmd::resolve::Args),
    /// Normalized checkpoint pattern and epoch of checkpoint paths, as RETURNN reads them.
    Path(cmd::path::Args),
    /// Existing epochs of a config's model, with their files and learning-rate-control scores.
    Epochs(cmd::epochs::Args),
    /// Which epochs RETURNN's cleanup_old_models keeps and deletes (dry run unless --apply).
    Cleanup(cmd::cleanup::Args),
    /// The parameter-loading plan RETURNN would follow (preload_from_files, load, import...).
    Plan(cmd::plan::Args),
    /// Execute the loading plan and write the loaded variables.
    Load(cmd::load::Args),
    /// Convert a checkpoint to safetensors (or a safetensors file back to a TF bundle).
    Convert(cmd::convert::Args),
    /// Average the floating-point tensors of several checkpoints.
    Avg(cmd::avg::Args),
    /// Compare two checkpoints tensor by tensor.
    Diff(cmd::diff::Args),
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Resolve(a) => cmd::resolve::run(a),
        Command::Path(a) => cmd::path::run(a),
        Command::Epochs(a) => cmd::epochs::run(a),
        Command::Cleanup(a) => cmd::cleanup::run(a),
        Command::Plan(a) => cmd::plan::run(a),
        Command::Load(a) => cmd::load::run(a),
        Command::Convert(a) => cmd::convert::run(a),
        Command::Avg(a) => cmd::avg::run(a),
        Command::Diff(a) => cmd::diff::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // A library error's message already says what its causes said.
            match err.downcast_ref::<engine::Error>() {
                Some(e) => eprintln!("returnn-ckpt: error: {}", e.message()),
                None => eprintln!("returnn-ckpt: error: {err:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// `returnn-ckpt inspect ... | head` closes stdout early. `println!` then panics with "failed
/// printing to stdout: Broken pipe"; like a C tool killed by SIGPIPE we end quietly instead
/// (exit status 141 = 128 + SIGPIPE), without a backtrace. Any other panic keeps the default hook.
fn quiet_on_broken_pipe() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks (unique ids and groups, flattened structs, ...) for every
    /// subcommand; these otherwise only fire when a user runs the command.
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
