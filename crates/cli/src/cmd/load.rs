//! `returnn-ckpt load CONFIG --target TARGET --out OUT [++key value]...`: computes the plan
//! (exactly what `plan` shows), then writes exactly the loaded variables (converted where a
//! rule converts, in the variable's dtype), streamed one tensor at a time. `OUT` ending in
//! `.safetensors` gives a safetensors file; anything else is a TF checkpoint prefix
//! (`OUT.index` + `OUT.data-00000-of-00001`). The output appears atomically, only if every
//! value was computed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use engine::{EngineError, EngineErrorKind};

use super::plan::{compute, enter_dir, plan_json, plan_text, report_error};

#[derive(clap::Args)]
pub struct Args {
    /// RETURNN config (Python as RETURNN ran it, JSON, or line-based)
    pub config: PathBuf,
    /// The network's variables: a JSON file, an existing checkpoint, or a .meta file
    #[arg(long)]
    pub target: PathBuf,
    /// Output: FILE.safetensors, or a TF checkpoint prefix
    #[arg(long)]
    pub out: PathBuf,
    /// Plan as at the start of a recorded run: treat the config's own model checkpoints
    /// (`model`.NNN, the run's output) as absent. This is the default when TARGET is one of
    /// them
    #[arg(long, conflicts_with = "resume")]
    pub fresh: bool,
    /// Plan a re-run: the config's own existing model checkpoints are resumed from, as RETURNN
    /// would (the default unless TARGET is one of them)
    #[arg(long)]
    pub resume: bool,
    /// Run as if started in this directory (RETURNN's working directory)
    #[arg(short = 'C', long = "dir")]
    pub dir: Option<PathBuf>,
    /// Print the plan as JSON (plus "out" and "written")
    #[arg(long)]
    pub json: bool,
    /// Config overrides: ++key value ...
    #[arg(allow_negative_numbers = true)]
    pub overrides: Vec<String>,
}

fn out_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::new(EngineErrorKind::Output, e.to_string())
}

fn write(ep: &engine::EnginePlan, out: &std::path::Path) -> Result<usize, EngineError> {
    let decl: Vec<(String, tf_bundle::DType, Vec<u64>)> = ep
        .plan
        .loaded()
        .map(|a| (a.var.clone(), a.dtype, a.shape.clone()))
        .collect();
    let n = decl.len();
    if out.to_string_lossy().ends_with(".safetensors") {
        if let Some((name, d, _)) = decl
            .iter()
            .find(|(_, d, _)| convert::safetensors_dtype(*d).is_none())
        {
            return Err(out_err(format!(
                "variable '{name}' has dtype {d}, which safetensors cannot store; write a TF checkpoint instead"
            )));
        }
        let mut meta = BTreeMap::new();
        meta.insert("producer".to_string(), "returnn-ckpt load".to_string());
        let mut w = convert::SafetensorsWriter::create(out, decl, meta).map_err(out_err)?;
        ep.for_each_value(&mut |a, v| w.write_next(&a.var, &v.data).map_err(out_err))?;
        w.finish().map_err(out_err)?;
    } else {
        let mut w = tf_bundle::write::BundleWriter::create(out).map_err(out_err)?;
        ep.for_each_value(&mut |a, v| {
            w.add_bytes(&a.var, v.dtype, &v.shape, &v.data)
                .map_err(out_err)
        })?;
        w.finish().map_err(out_err)?;
    }
    Ok(n)
}

pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    enter_dir(
        args.dir.as_deref(),
        &mut [&mut args.config, &mut args.target, &mut args.out],
    )?;
    let ep = match compute(
        &args.config,
        &args.target,
        &args.overrides,
        if args.fresh {
            Some(true)
        } else if args.resume {
            Some(false)
        } else {
            None
        },
    ) {
        Ok(ep) => ep,
        Err(e) => return Ok(report_error(&e, args.json)),
    };
    let written = match write(&ep, &args.out) {
        Ok(n) => n,
        Err(e) => return Ok(report_error(&e, args.json)),
    };
    if args.json {
        let mut j = plan_json(&ep);
        j["out"] = serde_json::Value::String(args.out.display().to_string());
        j["written"] = serde_json::Value::from(written);
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        print!("{}", plan_text(&ep));
        println!("wrote {written} tensors to {}", args.out.display());
    }
    Ok(ExitCode::SUCCESS)
}
