//! `returnn-ckpt plan CONFIG --target TARGET [++key value]... [--json]`: the parameter-loading
//! plan RETURNN would follow (preload_from_files, load / import / resumed model), per target
//! variable: status, source file, source key(s), rule and loader.
//!
//! JSON (stable contract):
//! `{"variables": {"<name>": {"status": "loaded", "file": "<path>", "keys": ["l1/W"],
//! "rule": "prefix", "entry": "<preload key or load>"}}, "notes": ["..."]}`; where RETURNN
//! would raise: exit 1 and `{"error": "<message>", "kind": "<stable label>"}`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use engine::{EngineError, EnginePlan};
use serde_json::{json, Map, Value};

#[derive(clap::Args)]
pub struct Args {
    /// RETURNN config (Python as RETURNN ran it, JSON, or line-based)
    pub config: PathBuf,
    /// The network's variables: a JSON file {"variables": [{"name", "shape", "dtype"}]}, an
    /// existing checkpoint (its tensor list), or a .meta MetaGraphDef (its global variables)
    #[arg(long)]
    pub target: PathBuf,
    /// Plan as at the start of a recorded run: treat the config's own model checkpoints
    /// (`model`.NNN, the run's output) as absent. This is the default when TARGET is one of
    /// them
    #[arg(long, conflicts_with = "resume")]
    pub fresh: bool,
    /// Plan a re-run: the config's own existing model checkpoints are resumed from, as RETURNN
    /// would (the default unless TARGET is one of them)
    #[arg(long)]
    pub resume: bool,
    /// Run as if started in this directory (RETURNN's working directory: relative paths in the
    /// config are relative to it). Default: the current directory
    #[arg(short = 'C', long = "dir")]
    pub dir: Option<PathBuf>,
    /// Print JSON (`load`: the plan plus "out" and "written")
    #[arg(long)]
    pub json: bool,
    /// Config overrides as RETURNN's command line takes them: ++key value ...
    #[arg(allow_negative_numbers = true)]
    pub overrides: Vec<String>,
}

/// Resolves paths given on the command line, then changes into `dir` (if any).
pub(crate) fn enter_dir(dir: Option<&Path>, paths: &mut [&mut PathBuf]) -> anyhow::Result<()> {
    if let Some(dir) = dir {
        let cwd = std::env::current_dir()?;
        for p in paths.iter_mut() {
            if p.is_relative() {
                **p = cwd.join(&**p);
            }
        }
        std::env::set_current_dir(dir).map_err(|e| {
            anyhow::anyhow!("cannot change into directory '{}': {e}", dir.display())
        })?;
    }
    Ok(())
}

/// Loads config + targets and computes the plan.
pub(crate) fn compute(
    config: &Path,
    target: &Path,
    overrides: &[String],
    fresh: Option<bool>,
) -> Result<EnginePlan, EngineError> {
    let cfg = engine::load_config(config, overrides)?;
    let targets = engine::load_targets(target)?;
    let fresh = match fresh {
        Some(f) => f,
        None => engine::target_is_own_model(&cfg, target),
    };
    let mut ep = engine::plan_with(&cfg, targets, &engine::PlanOptions { fresh })?;
    if fresh {
        ep.plan.notes.insert(
            0,
            "planned as at the start of the run: the config's own model checkpoints (the run's output) are treated as absent (--resume plans a re-run instead)".to_string(),
        );
    }
    Ok(ep)
}

/// The plan as the JSON contract.
pub(crate) fn plan_json(ep: &EnginePlan) -> Value {
    let mut vars = Map::new();
    for v in &ep.plan.variables {
        let a = v.assignment.as_ref();
        vars.insert(
            v.var.name.clone(),
            json!({
                "status": v.status.label(),
                "file": v.file,
                "keys": a.map(|a| a.keys.clone()).unwrap_or_default(),
                "rule": a.map(|a| a.rule.label()),
                "entry": v.entry,
            }),
        );
    }
    json!({"variables": vars, "notes": ep.plan.notes})
}

/// The plan as text lines.
pub(crate) fn plan_text(ep: &EnginePlan) -> String {
    let mut out = String::new();
    let w = ep
        .plan
        .variables
        .iter()
        .map(|v| v.var.name.len())
        .max()
        .unwrap_or(0);
    let (mut loaded, mut random, mut ignored) = (0, 0, 0);
    for v in &ep.plan.variables {
        match v.status {
            param_map::Status::Loaded => loaded += 1,
            param_map::Status::RandomInit => random += 1,
            param_map::Status::MissingIgnored => ignored += 1,
        }
        let detail = match &v.assignment {
            Some(a) => format!(
                "{:<36} [{}] {}: {}",
                a.rule.label(),
                a.entry,
                a.file,
                a.keys.join(", ")
            ),
            None => match (&v.entry, &v.file) {
                (Some(e), Some(f)) => format!("{:<36} [{e}] {f}", "-"),
                _ => "-".to_string(),
            },
        };
        out.push_str(&format!(
            "{:<w$}  {:<15}  {detail}\n",
            v.var.name,
            v.status.label()
        ));
    }
    for n in &ep.plan.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(&format!(
        "{loaded} loaded, {random} random-init, {ignored} missing-ignored ({} variables)\n",
        ep.plan.variables.len()
    ));
    out
}

/// Reports an engine error (RETURNN would raise): JSON on stdout or text on stderr; exit 1.
pub(crate) fn report_error(e: &EngineError, json: bool) -> ExitCode {
    if json {
        println!("{}", json!({"error": e.message(), "kind": e.label()}));
    } else {
        eprintln!("returnn-ckpt: error [{}]: {}", e.label(), e.message());
    }
    ExitCode::FAILURE
}

/// Changes into `--dir` (resolving the command-line paths, plus `extra`, first) and computes
/// the plan. Shared by `plan` and `load`, so `load` writes exactly what `plan` shows.
pub(crate) fn enter_and_compute(
    args: &mut Args,
    extra: Option<&mut PathBuf>,
) -> anyhow::Result<Result<EnginePlan, EngineError>> {
    let fresh = if args.fresh {
        Some(true)
    } else if args.resume {
        Some(false)
    } else {
        None
    };
    let mut paths = vec![&mut args.config, &mut args.target];
    paths.extend(extra);
    enter_dir(args.dir.as_deref(), &mut paths)?;
    Ok(compute(&args.config, &args.target, &args.overrides, fresh))
}

pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let ep = match enter_and_compute(&mut args, None)? {
        Ok(ep) => ep,
        Err(e) => return Ok(report_error(&e, args.json)),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan_json(&ep))?);
    } else {
        print!("{}", plan_text(&ep));
    }
    Ok(ExitCode::SUCCESS)
}
