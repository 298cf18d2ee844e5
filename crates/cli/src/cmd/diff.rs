//! `returnn-ckpt diff A B [--json] [--atol X] [--rtol Y] [--rename REGEX=REPL]`: tensors only
//! in A or only in B, dtype and shape changes, and value differences (`engine::diff`). A and B
//! are TF checkpoints, `.pt` or `.safetensors` files in any combination; `--rename` maps A's
//! names before matching. Exit 0 when equal within the tolerance, 1 otherwise.
//!
//! `--json` prints one object: `{"a", "b", "atol", "rtol", "equal", "only_in_a": [name],
//! "only_in_b": [name], "dtype_changed": [{"name", "a", "b"}], "shape_changed": [{"name", "a",
//! "b"}], "value_changed": [{"name", "dtype", "count", "num_elements", "max_abs", "max_rel"}],
//! "compared"}` (`max_abs`/`max_rel` may be null).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::out::{fail, plural, print_json, print_out, Fail, NEGATIVE};
use crate::progress::Bar;

#[derive(clap::Args)]
pub struct Args {
    /// First checkpoint (TF checkpoint, `.pt` or `.safetensors`).
    pub a: PathBuf,
    /// Second checkpoint (TF checkpoint, `.pt` or `.safetensors`).
    pub b: PathBuf,
    /// Rename A's tensors before matching them with B's: REGEX=REPLACEMENT, all matches, `$1`
    /// for groups (repeatable, applied in order) — the rules given to `convert --rename`, so
    /// `diff SRC OUT --rename R` checks `convert SRC OUT --rename R`.
    #[arg(long, value_name = "REGEX=REPLACEMENT")]
    pub rename: Vec<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Absolute tolerance: elements differ when |a - b| > atol + rtol * |b|.
    #[arg(long, default_value_t = 0.0)]
    pub atol: f64,
    /// Relative tolerance (see --atol).
    #[arg(long, default_value_t = 0.0)]
    pub rtol: f64,
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), engine::py_float_repr)
}

pub fn run(args: Args, quiet: bool) -> Result<ExitCode, Fail> {
    let bar = Bar::new(quiet || args.json);
    let d = engine::diff::run(
        &engine::diff::DiffRequest {
            a: args.a,
            b: args.b,
            atol: args.atol,
            rtol: args.rtol,
            rename: args.rename,
        },
        &bar,
    )
    .map_err(fail(args.json))?;
    let code = if d.equal {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NEGATIVE)
    };
    if args.json {
        print_json(&d);
        return Ok(code);
    }
    let mut text = String::new();
    for n in &d.only_in_a {
        let _ = writeln!(text, "only in A: {n}");
    }
    for n in &d.only_in_b {
        let _ = writeln!(text, "only in B: {n}");
    }
    for c in &d.dtype_changed {
        let _ = writeln!(text, "dtype changed: {}: {} -> {}", c.name, c.a, c.b);
    }
    for c in &d.shape_changed {
        let _ = writeln!(text, "shape changed: {}: {:?} -> {:?}", c.name, c.a, c.b);
    }
    for c in &d.value_changed {
        let _ = writeln!(
            text,
            "values differ: {} ({}): {} of {} differ, max abs {}, max rel {}",
            c.name,
            c.dtype,
            c.count,
            plural(c.num_elements as usize, "element", "elements"),
            fmt_opt(c.max_abs),
            fmt_opt(c.max_rel)
        );
    }
    let verdict = if d.equal { "equal" } else { "different" };
    let _ = writeln!(
        text,
        "{} compared: {verdict}",
        plural(d.compared as usize, "tensor", "tensors")
    );
    print_out(&text);
    Ok(code)
}
