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

use super::plan::{enter_and_compute, plan_json, plan_text, report_error};

#[derive(clap::Args)]
#[group(skip)]
pub struct Args {
    /// The same arguments as `plan`
    #[command(flatten)]
    pub plan: super::plan::Args,
    /// Output: FILE.safetensors, or a TF checkpoint prefix
    #[arg(long)]
    pub out: PathBuf,
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
    let json = args.plan.json;
    let ep = match enter_and_compute(&mut args.plan, Some(&mut args.out))? {
        Ok(ep) => ep,
        Err(e) => return Ok(report_error(&e, json)),
    };
    let written = match write(&ep, &args.out) {
        Ok(n) => n,
        Err(e) => return Ok(report_error(&e, json)),
    };
    if json {
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
