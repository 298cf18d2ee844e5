//! # returnn-ckpt (the command-line tool)
//!
//! Owns everything a user sees: argument parsing (clap), human and JSON output, progress bars,
//! error messages and exit codes. All work is done by the library layer (`engine`), whose
//! reports this crate prints (`--json` is exactly their `serde_json`); it never parses a file
//! format or implements a RETURNN rule itself, and no subcommand module uses another.
//!
//! Exit codes: 0 success; 1 the answer is negative (RETURNN would raise, problems found,
//! checkpoints differ); 2 the tool could not answer (usage, unreadable input, I/O); 128 + N
//! when interrupted by signal N (130 SIGINT, 143 SIGTERM), after removing unfinished outputs.
// The face: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: opening a checkpoint allocates a few small
/// objects per tensor (names, shapes, slice specs), and with glibc's malloc that alone was half
/// of the time to list a 20,000-variable checkpoint (`cargo xtask bench`). Built without
/// transparent huge pages (feature `no_thp`): with them, a few MiB of buffers touched here and
/// there grew the resident set by whole 2 MiB pages (avg of three 1 GiB inputs: 62 MiB RSS for
/// 18 MiB of heap; 27 MiB without).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod cmd;
mod out;
mod plan_view;
mod progress;
mod signals;

#[derive(Parser)]
#[command(name = "returnn-ckpt", version, about, long_about = None)]
struct Cli {
    /// No progress bar (it is only drawn on a terminal anyway).
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
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
    /// Port a TF net-dict checkpoint to RF / PyTorch module parameters by a rules file (.pt, .safetensors).
    Port(cmd::port::Args),
    /// Convert a checkpoint (TF, .pt, .safetensors) to safetensors, a TF bundle or a RETURNN .pt
    Convert(cmd::convert::Args),
    /// Average the floating-point tensors of several checkpoints.
    Avg(cmd::avg::Args),
    /// Compare two checkpoints tensor by tensor.
    Diff(cmd::diff::Args),
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    signals::install(argv.iter().any(|a| a == "--json"));
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => return usage_error(e, &argv),
    };
    let q = cli.quiet;
    let result = match cli.command {
        Command::Inspect(a) => cmd::inspect::run(a, q),
        Command::Verify(a) => cmd::verify::run(a, q),
        Command::Resolve(a) => cmd::resolve::run(a),
        Command::Path(a) => cmd::path::run(a),
        Command::Epochs(a) => cmd::epochs::run(a),
        Command::Cleanup(a) => cmd::cleanup::run(a),
        Command::Plan(a) => cmd::plan::run(a),
        Command::Load(a) => cmd::load::run(a, q),
        Command::Port(a) => cmd::port::run(a, q),
        Command::Convert(a) => cmd::convert::run(a, q),
        Command::Avg(a) => cmd::avg::run(a, q),
        Command::Diff(a) => cmd::diff::run(a, q),
    };
    match result {
        Ok(code) => code,
        Err(f) => out::report(&f),
    }
}

/// clap's own errors: help and version as clap prints them (exit 0); a usage error as clap
/// prints it (exit 2), or, when `--json` was asked for, as the error document (exit 2).
fn usage_error(e: clap::Error, argv: &[std::ffi::OsString]) -> ExitCode {
    use clap::error::ErrorKind as K;
    if matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) || !argv.iter().any(|a| a == "--json")
    {
        let _ = e.print();
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(out::FAILED));
    }
    // clap's message without its usage block: "error: X" and the indented detail lines.
    let rendered = e.render().to_string();
    let text = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    out::report(&out::usage(true, text.trim_start_matches("error: ")))
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
