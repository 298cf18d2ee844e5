//! `returnn-ckpt port CKPT --rules R.toml [--config C] [--target T] [--out OUT.pt|OUT.safetensors]`:
//! ports a TF net-dict checkpoint to the parameters of an RF / torch module by a rules file
//! (`engine::port`, `docs/port-rules.md`). The plan comes first (every target parameter with
//! its TF variables and transforms, what is ignored, unmapped, unfilled); with `--out` the
//! values are computed one parameter at a time and written atomically, only if the plan has no
//! issues. Without `--out` only the plan is shown (exit 1 if it has issues).
//!
//! `port CKPT [--config C] [--target T] --suggest [--out R.toml]` writes a starting rules file
//! (without `--out`: prints it).

use std::path::PathBuf;
use std::process::ExitCode;

use engine::port::{PortReport, PortRequest, PtLayout, RulesInput, SuggestRequest};

use crate::args::WorkDir;
use crate::out::{fail, plural, print_json, print_notes, print_out, Fail, NEGATIVE};
use crate::progress::Bar;

/// The top level of a `.pt` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// RETURNN's PyTorch checkpoint: {"model": state_dict, "epoch", "step", ...}
    Returnn,
    /// The state dict itself (torch.save(model.state_dict()))
    Flat,
}

/// Module naming for `--suggest` when an RF and a torch module both fit the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StyleArg {
    Rf,
    Torch,
}

#[derive(clap::Args)]
pub struct Args {
    /// The TF checkpoint (RETURNN's TF backend): a prefix, PREFIX.index, a directory with a
    /// `checkpoint` file, or a V1 file
    pub checkpoint: PathBuf,
    /// The rules file (TOML, docs/port-rules.md)
    #[arg(long, value_name = "R.toml", required_unless_present = "suggest")]
    pub rules: Option<PathBuf>,
    /// The RETURNN config whose `network` dict (and `extern_data`) give the layer kinds;
    /// without it the kinds come from the variable names
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// The target module's state dict, to check the plan against: a .pt, a .safetensors, or a
    /// JSON list {"variables": [{"name", "dtype", "shape"}]}
    #[arg(long, value_name = "T")]
    pub target: Option<PathBuf>,
    /// Output: OUT.pt (RETURNN's PyTorch checkpoint) or OUT.safetensors; with --suggest the
    /// rules file R.toml. Without it: the plan only (--suggest: the rules on stdout)
    #[arg(long, value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Write a starting rules file instead of porting
    #[arg(long, conflicts_with = "rules")]
    pub suggest: bool,
    /// --suggest: the module naming when an RF and a torch module both fit the target
    #[arg(long, value_enum, requires = "suggest")]
    pub style: Option<StyleArg>,
    /// The .pt `epoch` (default: from the checkpoint's file name, else 1)
    #[arg(long, conflicts_with = "suggest")]
    pub epoch: Option<i64>,
    /// The .pt `step` (default: the checkpoint's global_step, else 0)
    #[arg(long, conflicts_with = "suggest")]
    pub step: Option<i64>,
    /// The top level of a .pt output
    #[arg(
        long,
        value_enum,
        default_value = "returnn",
        conflicts_with = "suggest"
    )]
    pub pt_layout: Layout,
    /// Replace an existing output
    #[arg(long)]
    pub force: bool,
    /// Print JSON: the plan document plus "written" (docs/port-rules.md); with --suggest
    /// {"out", "layers", "ok", "issues", "rules", "notes"}
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub dir: WorkDir,
}

pub fn run(args: Args, quiet: bool) -> Result<ExitCode, Fail> {
    let json = args.json;
    let dir = &args.dir;
    let path = |p: &PathBuf| dir.command_line_path(p);
    let config = args
        .config
        .as_ref()
        .map(|c| engine::config::ConfigRequest::file(path(c), Vec::new(), dir.base()));
    if args.suggest {
        let req = SuggestRequest {
            checkpoint: path(&args.checkpoint),
            config,
            target: args.target.as_ref().map(path),
            out: args.out.as_ref().map(path),
            force: args.force,
            style: args.style.map(|s| match s {
                StyleArg::Rf => port_style(false),
                StyleArg::Torch => port_style(true),
            }),
        };
        let mut r = engine::port::suggest(&req).map_err(fail(json))?;
        r.out = args.out.as_ref().map(|p| p.display().to_string());
        if json {
            print_json(&r);
            return Ok(ExitCode::SUCCESS);
        }
        print_notes(&r.notes, false);
        match &r.out {
            None => print_out(&r.rules),
            Some(o) => {
                let state = if r.ok {
                    "a plan with them has no issues".to_string()
                } else {
                    format!(
                        "a plan with them still has {}",
                        plural(r.issues.len(), "issue", "issues")
                    )
                };
                print_out(&format!(
                    "wrote {o} ({}; {state})\n",
                    plural(r.layers, "[[layer]] rule", "[[layer]] rules")
                ));
            }
        }
        for i in &r.issues {
            eprintln!("open[{}]: {}", i.kind.label(), i.message);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(rules) = args.rules.as_ref() else {
        return Err(crate::out::usage(
            json,
            "the following required argument was not provided: --rules <R.toml>",
        ));
    };
    let req = PortRequest {
        checkpoint: path(&args.checkpoint),
        rules: RulesInput::File(path(rules)),
        config,
        target: args.target.as_ref().map(path),
        out: args.out.as_ref().map(path),
        force: args.force,
        epoch: args.epoch,
        step: args.step,
        pt_layout: match args.pt_layout {
            Layout::Returnn => PtLayout::Returnn,
            Layout::Flat => PtLayout::Flat,
        },
    };
    engine::port::check_request(&req).map_err(fail(json))?;
    let prepared = engine::port::prepare(&req).map_err(fail(json))?;
    let plan = prepared.plan();
    if !json {
        print_out(&plan_text(plan));
        print_notes(&plan.notes, false);
    }
    if !plan.ok {
        if json && req.out.is_some() {
            prepared.check().map_err(fail(json))?;
        }
        if json {
            print_json(&PortReport {
                plan: plan.clone(),
                written: None,
            });
        } else {
            print_issues(&plan.issues);
            if let Some(o) = &args.out {
                eprintln!("nothing was written to {}", o.display());
            }
        }
        return Ok(ExitCode::from(NEGATIVE));
    }
    let Some(out) = &req.out else {
        if json {
            print_json(&PortReport {
                plan: plan.clone(),
                written: None,
            });
        }
        return Ok(ExitCode::SUCCESS);
    };
    let bar = Bar::new(quiet);
    let mut w = prepared.write(&req, out, &bar).map_err(fail(json))?;
    w.out = args
        .out
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if json {
        print_json(&PortReport {
            plan: plan.clone(),
            written: Some(w),
        });
    } else {
        let what = match (w.layout, w.epoch, w.step) {
            (Some("returnn"), Some(e), Some(s)) => {
                format!("RETURNN PyTorch checkpoint, epoch {e}, step {s}")
            }
            (Some(l), _, _) => format!("{l} state dict"),
            _ => w.format.to_string(),
        };
        print_out(&format!(
            "wrote {} to {} ({what}, {})\n",
            plural(w.tensors, "tensor", "tensors"),
            w.out,
            plural(w.bytes as usize, "byte", "bytes")
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Every issue as `error[kind]: message`, then one hint per kind.
fn print_issues(issues: &[engine::port::PlanIssue]) {
    let c = crate::out::stderr_colors();
    let paint = |code: &str, t: &str| {
        if c {
            format!("\x1b[{code}m{t}\x1b[0m")
        } else {
            t.to_string()
        }
    };
    let mut kinds = Vec::new();
    for i in issues {
        eprintln!(
            "{} {}",
            paint("1;31", &format!("error[{}]:", i.kind.label())),
            i.message
        );
        if !kinds.contains(&i.kind) {
            kinds.push(i.kind);
        }
    }
    for k in kinds {
        if let Some(h) = engine::port::issue_hint(k) {
            eprintln!("  {} {h} ({})", paint("1;32", "hint:"), k.label());
        }
    }
}

fn port_style(torch: bool) -> engine::port::Style {
    if torch {
        engine::port::Style::Torch
    } else {
        engine::port::Style::Rf
    }
}

fn shape(s: &[u64]) -> String {
    match s {
        [] => "()".into(),
        [a] => format!("({a},)"),
        _ => format!(
            "({})",
            s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn json_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The plan as text: per layer its kind, module and target path, what the module must be
/// built with, and its parameters with their TF inputs and transforms; then the `[[var]]`
/// parameters, what is ignored, unmapped and unfilled, and a summary line.
pub fn plan_text(plan: &engine::port::PortPlan) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let width = plan
        .params
        .iter()
        .map(|p| p.target.len())
        .max()
        .unwrap_or(0);
    let dshape = |p: &engine::port::PlannedParam| format!("{} {}", p.dtype, shape(&p.shape));
    let dwidth = plan
        .params
        .iter()
        .map(|p| dshape(p).len())
        .max()
        .unwrap_or(0);
    let line = |out: &mut String, p: &engine::port::PlannedParam| {
        let inputs: Vec<String> = p
            .inputs
            .iter()
            .map(|i| format!("{} {}", i.name, shape(&i.shape)))
            .collect();
        let inputs = if inputs.is_empty() {
            "(constant)".to_string()
        } else {
            inputs.join(", ")
        };
        let ops: Vec<String> = p.transforms.iter().map(|o| o.describe()).collect();
        let ops = if ops.is_empty() {
            String::new()
        } else {
            format!("  [{}]", ops.join(", "))
        };
        let _ = writeln!(
            out,
            "  {:width$}  {:dwidth$}  <- {inputs}{ops}",
            p.target,
            dshape(p)
        );
    };
    for l in &plan.layers {
        let origin = match l.origin {
            engine::port::Origin::Network => "network dict",
            engine::port::Origin::Variables => "variable names",
            engine::port::Origin::Rules => "rules",
        };
        match (l.source, l.module) {
            (Some(s), Some(m)) => {
                let target = if l.target.is_empty() {
                    "the root module".to_string()
                } else {
                    format!("'{}'", l.target)
                };
                let _ = writeln!(
                    out,
                    "layer {} ({s}, from the {origin}): {m} at {target} [{}]",
                    l.layer, l.rule
                );
            }
            _ => {
                let _ = writeln!(out, "layer {}: {}", l.layer, l.rule);
                continue;
            }
        }
        if !l.module_options.is_empty() {
            let opts: Vec<String> = l
                .module_options
                .iter()
                .map(|(k, v)| format!("{k} {}", json_value(v)))
                .collect();
            let _ = writeln!(out, "  module options: {}", opts.join(", "));
        }
        for name in &l.params {
            if let Some(p) = plan.param(name) {
                line(&mut out, p);
            }
        }
        for n in &l.notes {
            let _ = writeln!(out, "  note: {n}");
        }
    }
    let loose: Vec<&engine::port::PlannedParam> =
        plan.params.iter().filter(|p| p.layer.is_none()).collect();
    if !loose.is_empty() {
        out.push_str("[[var]] rules:\n");
        for p in loose {
            line(&mut out, p);
        }
    }
    let list = |what: &str, items: Vec<String>, out: &mut String| {
        if !items.is_empty() {
            let _ = writeln!(out, "{what}: {}", items.join(", "));
        }
    };
    list(
        "ignored",
        plan.ignored
            .iter()
            .map(|i| format!("{} ({})", i.name, i.reason))
            .collect(),
        &mut out,
    );
    list("ignored targets", plan.ignored_targets.clone(), &mut out);
    list(
        "unmapped",
        plan.unmapped
            .iter()
            .map(|u| format!("{} ({} {})", u.name, u.dtype, shape(&u.shape)))
            .collect(),
        &mut out,
    );
    list(
        "unfilled",
        plan.unfilled
            .iter()
            .map(|u| format!("{} ({} {})", u.name, u.dtype, shape(&u.shape)))
            .collect(),
        &mut out,
    );
    let read: std::collections::BTreeSet<&str> = plan
        .params
        .iter()
        .flat_map(|p| p.inputs.iter().map(|i| i.name.as_str()))
        .collect();
    let _ = writeln!(
        out,
        "{} from {}; {} ignored, {} unmapped, {} unfilled; {}",
        plural(plan.params.len(), "parameter", "parameters"),
        plural(read.len(), "TF variable", "TF variables"),
        plan.ignored.len(),
        plan.unmapped.len(),
        plan.unfilled.len(),
        if plan.checked_against_target {
            "checked against the target"
        } else {
            "not checked against a target (no --target)"
        }
    );
    out
}
