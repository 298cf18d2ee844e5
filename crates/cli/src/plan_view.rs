//! What `plan` and `load` share: their arguments and the plan as text.

use std::path::PathBuf;

use engine::config::ConfigRequest;
use engine::plan::{PlanReport, PlanRequest};

use crate::args::{split_trailing, Own, WorkDir};
use crate::out::{usage, Fail};

/// The arguments `plan` and `load` share.
#[derive(clap::Args)]
pub struct PlanArgs {
    /// RETURNN config (Python as RETURNN ran it, JSON, or line-based)
    pub config: PathBuf,
    /// The network's variables: a JSON file {"variables": [{"name", "shape", "dtype"}]}, an
    /// existing checkpoint (its tensor list), or a .meta MetaGraphDef (its global variables);
    /// for backend = "torch": a .pt or .safetensors file (its state dict)
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// Plan as at the start of a recorded run: treat the config's own model checkpoints
    /// (`model`.NNN, the run's output) as absent. This is the default when TARGET is one of
    /// them
    #[arg(long, conflicts_with = "resume")]
    pub fresh: bool,
    /// Plan a re-run: the config's own existing model checkpoints are resumed from, as RETURNN
    /// would (the default unless TARGET is one of them)
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub dir: WorkDir,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// RETURNN's command line: `++key value` overrides (`+-0.1` gives `-0.1`) and its options
    /// (`--task eval`, ...)
    #[arg(num_args = 0.., allow_hyphen_values = true, trailing_var_arg = true, value_name = "++KEY VALUE")]
    pub overrides: Vec<String>,
}

/// [`PlanArgs`] with the flags that came after the overrides merged in.
pub struct PlanCall {
    pub request: PlanRequest,
    pub json: bool,
    pub dir: WorkDir,
    pub out: Option<PathBuf>,
    pub force: bool,
    pub quiet: bool,
}

impl PlanArgs {
    /// The library request (`with_out`: also take `--out` from after the overrides).
    pub fn call(&self, with_out: bool) -> Result<PlanCall, Fail> {
        let mut own = vec![Own::Json, Own::Cwd, Own::Target, Own::Fresh, Own::Resume];
        if with_out {
            own.extend([Own::Out, Own::Force, Own::Quiet]);
        }
        let json_anywhere = self.json || self.overrides.iter().any(|a| a == "--json");
        let t = split_trailing(&self.overrides, &own).map_err(|m| usage(json_anywhere, m))?;
        let dir = WorkDir {
            cwd: t.cwd.clone().or(self.dir.cwd.clone()),
        };
        let target = t.target.clone().or(self.target.clone()).ok_or_else(|| {
            usage(
                json_anywhere,
                "the following required argument was not provided: --target <TARGET>",
            )
        })?;
        let (fresh, resume) = (self.fresh || t.fresh, self.resume || t.resume);
        if fresh && resume {
            return Err(usage(
                json_anywhere,
                "--fresh and --resume exclude each other",
            ));
        }
        Ok(PlanCall {
            request: PlanRequest {
                config: ConfigRequest::file(
                    dir.command_line_path(&self.config),
                    t.returnn_args.clone(),
                    dir.base(),
                ),
                target: dir.command_line_path(&target),
                fresh: if fresh {
                    Some(true)
                } else if resume {
                    Some(false)
                } else {
                    None
                },
            },
            json: self.json || t.json,
            dir,
            out: t.out,
            force: t.force,
            quiet: t.quiet,
        })
    }
}

/// The plan as text lines.
pub fn plan_text(p: &PlanReport) -> String {
    let mut out = String::new();
    let w = p.variables.keys().map(String::len).max().unwrap_or(0);
    let (mut loaded, mut random, mut ignored, mut frozen) = (0, 0, 0, 0);
    for (name, v) in p
        .order
        .iter()
        .filter_map(|n| Some((n, p.variables.get(n)?)))
    {
        match v.status {
            "loaded" => loaded += 1,
            "frozen" => frozen += 1,
            "random_init" => random += 1,
            _ => ignored += 1,
        }
        let detail = match (&v.rule, &v.entry, &v.file) {
            (Some(rule), Some(e), Some(f)) => {
                format!("{rule:<36} [{e}] {f}: {}", v.keys.join(", "))
            }
            (None, Some(e), Some(f)) => format!("{:<36} [{e}] {f}", "-"),
            _ => match &v.reason {
                Some(Some(r)) => format!("- ({r})"),
                _ => "-".to_string(),
            },
        };
        let detail = match &v.cast {
            Some(Some(c)) => format!("{detail} (cast {c})"),
            _ => detail,
        };
        out.push_str(&format!("{name:<w$}  {:<15}  {detail}\n", v.status));
    }
    if let Some(engine) = p.engine {
        let main = p.main.clone().flatten().unwrap_or_else(|| "none".into());
        let num = |x: Option<Option<u64>>| match x.flatten() {
            Some(n) => n.to_string(),
            None => "-".into(),
        };
        out.push_str(&format!(
            "engine: {engine}; main checkpoint: {main}; epoch {}, step {}\n",
            num(p.epoch),
            num(p.step)
        ));
        for e in p.entries.iter().flatten() {
            out.push_str(&format!(
                "preload_from_files[{:?}]: {} ({})\n",
                e.key,
                if e.applied { "applied" } else { "not applied" },
                e.reason
            ));
        }
        if let Some(u) = p.unexpected.as_ref().filter(|u| !u.is_empty()) {
            out.push_str(&format!("unexpected keys (ignored): {}\n", u.join(", ")));
        }
    }
    for n in &p.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    if p.engine.is_some() {
        out.push_str(&format!(
            "{loaded} loaded, {frozen} frozen, {random} random_init, {ignored} missing_ignored ({} variables)\n",
            p.variables.len()
        ));
    } else {
        out.push_str(&format!(
            "{loaded} loaded, {random} random_init, {ignored} missing_ignored ({} variables)\n",
            p.variables.len()
        ));
    }
    out
}
