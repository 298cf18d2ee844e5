//! What `plan` and `load` share: their arguments and the plan as text.

use std::path::PathBuf;

use engine::config::ConfigRequest;
use engine::plan::{PlanReport, PlanRequest};

use crate::args::WorkDir;
use crate::out::ErrorDoc;

/// The arguments `plan` and `load` share.
#[derive(clap::Args)]
pub struct PlanArgs {
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
    #[command(flatten)]
    pub dir: WorkDir,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Config overrides as RETURNN's command line takes them: ++key value ...
    #[arg(allow_negative_numbers = true)]
    pub overrides: Vec<String>,
}

impl PlanArgs {
    /// The library request.
    pub fn request(&self) -> PlanRequest {
        PlanRequest {
            config: ConfigRequest::file(
                self.dir.command_line_path(&self.config),
                self.overrides.clone(),
                self.dir.base(),
            ),
            target: self.dir.command_line_path(&self.target),
            fresh: if self.fresh {
                Some(true)
            } else if self.resume {
                Some(false)
            } else {
                None
            },
        }
    }

    /// How errors are shown.
    pub fn error_doc(&self) -> ErrorDoc {
        if self.json {
            ErrorDoc::Line
        } else {
            ErrorDoc::Text
        }
    }
}

/// The plan as text lines.
pub fn plan_text(p: &PlanReport) -> String {
    let mut out = String::new();
    let w = p.variables.keys().map(String::len).max().unwrap_or(0);
    let (mut loaded, mut random, mut ignored) = (0, 0, 0);
    for (name, v) in p
        .order
        .iter()
        .filter_map(|n| Some((n, p.variables.get(n)?)))
    {
        match v.status {
            "loaded" => loaded += 1,
            "random_init" => random += 1,
            _ => ignored += 1,
        }
        let detail = match (&v.rule, &v.entry, &v.file) {
            (Some(rule), Some(e), Some(f)) => {
                format!("{rule:<36} [{e}] {f}: {}", v.keys.join(", "))
            }
            (None, Some(e), Some(f)) => format!("{:<36} [{e}] {f}", "-"),
            _ => "-".to_string(),
        };
        out.push_str(&format!("{name:<w$}  {:<15}  {detail}\n", v.status));
    }
    for n in &p.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(&format!(
        "{loaded} loaded, {random} random_init, {ignored} missing_ignored ({} variables)\n",
        p.variables.len()
    ));
    out
}
