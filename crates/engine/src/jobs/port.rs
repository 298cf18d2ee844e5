//! `port`: a TF net-dict checkpoint (RETURNN's TF backend) ported to the parameters of an RF
//! (RETURNN frontend) or plain PyTorch module by a rules file (`docs/port-rules.md`), and
//! `port --suggest`, which writes a starting rules file.
//!
//! The job joins the `port` crate (rules, presets, plan, transforms) with the files: the
//! checkpoint (a TF bundle in any path form `tf-bundle` opens), the config's network dict
//! (read by `returnn-config` in the request's base directory), the target's state-dict list (a
//! `.pt` through `torch-pt`, a `.safetensors` header through the `safetensors` crate, or a JSON
//! list of names, dtypes and shapes) and the output writers (`torch-pt`'s streaming state-dict
//! writer for `.pt`, `convert`'s safetensors writer).
//!
//! Order of work: the output is checked first (refused if it exists without `force`, if it is
//! a directory, if its directory is missing, if it is one of the inputs), then everything is
//! planned from names, dtypes and shapes only (the plan document); only a plan without issues
//! is carried out, one parameter at a time (memory: one parameter and its inputs), into a temp
//! file that is renamed into place when every value was computed and written.
//!
//! The report (stable JSON) is the plan document of `docs/port-rules.md` plus `"written"`:
//! `null` when nothing was written (no output asked for), else `{"out", "format", "layout",
//! "epoch", "step", "tensors", "bytes"}`. A plan with issues is a report with `"ok": false`
//! when no output is asked for, and an error (the first issue's kind, every issue in the
//! message) when one is.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The plan document's types (faces render them), from the `port` crate.
pub use port::kinds::Origin;
use port::Rules;
pub use port::{PlanIssue, PlannedLayer, PlannedParam, PortErrorKind, PortPlan, Style, TensorSpec};
use serde::Serialize;

use crate::config::{self, ConfigRequest};
use crate::error::{Error, ErrorKind, Result};
use crate::output::{check_output, is_checkpoint_file, same_file, OutputForm};
use crate::progress::Progress;

/// Upper bound for a rules file (they are a few KiB; 16 MiB is hostile).
pub const MAX_RULES_FILE: u64 = 16 << 20;
/// Upper bound for a JSON target list (a module's parameter list).
pub const MAX_TARGET_JSON: u64 = 1 << 30;

/// Where the rules come from.
#[derive(Clone, Debug)]
pub enum RulesInput {
    /// A rules file (TOML). Relative to the process's directory as the face gives it.
    File(PathBuf),
    /// Rules text, named `filename` in messages.
    Text { text: String, filename: String },
}

/// The top level of a `.pt` output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PtLayout {
    /// RETURNN's PyTorch-engine checkpoint: `{"model": state_dict, "epoch", "step",
    /// "effective_learning_rate": None, "returnn_version"}`.
    #[default]
    Returnn,
    /// `torch.save(model.state_dict())`: the state dict itself.
    Flat,
}

/// What to port.
#[derive(Clone, Debug)]
pub struct PortRequest {
    /// The TF checkpoint: a prefix, `PREFIX.index`, a `.meta` beside it, a directory with a
    /// `checkpoint` state file, a V1 file. Relative to the process's directory as given.
    pub checkpoint: PathBuf,
    pub rules: RulesInput,
    /// The RETURNN config whose `network` (and `extern_data`) decide the layer kinds; read in
    /// its `base_dir` like every config.
    pub config: Option<ConfigRequest>,
    /// The target module's state-dict list: `.pt`, `.safetensors`, or JSON
    /// `{"variables": [{"name", "dtype", "shape"}]}`. The plan is checked against it.
    pub target: Option<PathBuf>,
    /// `OUT.pt` or `OUT.safetensors`; `None`: plan only.
    pub out: Option<PathBuf>,
    /// Replace an existing output.
    pub force: bool,
    /// The `.pt` `epoch` (default: from the checkpoint's file name, `network.003` -> 3, else 1).
    pub epoch: Option<i64>,
    /// The `.pt` `step` (default: the checkpoint's `global_step`, else 0).
    pub step: Option<i64>,
    pub pt_layout: PtLayout,
}

impl PortRequest {
    /// A plan-only request with the defaults.
    pub fn new(checkpoint: impl Into<PathBuf>, rules: RulesInput) -> PortRequest {
        PortRequest {
            checkpoint: checkpoint.into(),
            rules,
            config: None,
            target: None,
            out: None,
            force: false,
            epoch: None,
            step: None,
            pt_layout: PtLayout::Returnn,
        }
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Written {
    /// The output as the request names it.
    pub out: String,
    /// `pt` or `safetensors`.
    pub format: &'static str,
    /// `.pt`: `returnn` (`{"model": ..., "epoch", "step", ...}`) or `flat`; safetensors: null.
    pub layout: Option<&'static str>,
    /// The `.pt` `epoch` and `step` (null for other outputs).
    pub epoch: Option<i64>,
    pub step: Option<i64>,
    /// Tensors written.
    pub tensors: usize,
    /// Size of the output file in bytes.
    pub bytes: u64,
}

/// The plan document plus what was written (`null`: nothing).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PortReport {
    #[serde(flatten)]
    pub plan: PortPlan,
    pub written: Option<Written>,
}

/// What `--suggest` writes.
#[derive(Clone, Debug)]
pub struct SuggestRequest {
    pub checkpoint: PathBuf,
    pub config: Option<ConfigRequest>,
    pub target: Option<PathBuf>,
    /// `R.toml`; `None`: the rules are only returned.
    pub out: Option<PathBuf>,
    pub force: bool,
    /// Which of two fitting modules to take when RF's and torch's both fit but compute
    /// different values (see `port::SuggestOptions`).
    pub style: Option<Style>,
}

/// The suggested rules and what a plan with them still finds open.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SuggestReport {
    /// The rules file written, if any.
    pub out: Option<String>,
    /// `[[layer]]` rules in the file.
    pub layers: usize,
    /// Whether planning with these rules (and the config and target given) has no issues.
    pub ok: bool,
    /// The issues of that plan (what still needs an edit).
    pub issues: Vec<PlanIssue>,
    /// The rules file's text.
    pub rules: String,
    pub notes: Vec<String>,
}

/// The `.pt` epoch, step and layout written (all `None` for safetensors).
type PtMeta = (Option<i64>, Option<i64>, Option<&'static str>);

/// Everything read and planned, before anything is written.
pub struct Prepared {
    plan: PortPlan,
    ckpt: tf_bundle::Checkpoint,
    /// The target's state-dict keys in file order (the output's order), if a target was given.
    target_order: Option<Vec<String>>,
    target: Option<PathBuf>,
    rules_file: Option<PathBuf>,
    checkpoint: PathBuf,
    global_step: Option<i64>,
}

fn rules_err(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::RulesFile,
        format!("rules file '{}': {msg}", path.display()),
    )
    .with_path(path)
}

fn target_err(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Target,
        format!("target '{}': {msg}", path.display()),
    )
    .with_path(path)
}

/// Reads at most `limit` bytes of `path`; more is an error.
fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {limit}-byte limit"),
        ));
    }
    Ok(buf)
}

fn load_rules(input: &RulesInput) -> Result<(Rules, Option<PathBuf>)> {
    match input {
        RulesInput::File(p) => {
            let bytes = read_bounded(p, MAX_RULES_FILE).map_err(|e| {
                let hint = (e.kind() == std::io::ErrorKind::NotFound)
                    .then_some("`port CKPT --suggest --out R.toml` writes a starting rules file");
                let err = rules_err(p, e);
                match hint {
                    Some(h) => err.with_hint(h),
                    None => err,
                }
            })?;
            let text = String::from_utf8(bytes).map_err(|e| {
                rules_err(
                    p,
                    format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                )
            })?;
            let rules = Rules::from_toml(&text, &p.display().to_string())
                .map_err(|e| Error::from(e).with_path(p))?;
            Ok((rules, Some(p.clone())))
        }
        RulesInput::Text { text, filename } => {
            Ok((Rules::from_toml(text, filename).map_err(Error::from)?, None))
        }
    }
}

fn load_network(cfg: Option<&ConfigRequest>) -> Result<Option<port::NetworkDict>> {
    let Some(req) = cfg else {
        return Ok(None);
    };
    let loaded = config::load(req)?;
    let shown = match &req.config {
        config::ConfigInput::File(p) => p.display().to_string(),
        config::ConfigInput::Text { filename, .. } => filename.clone(),
    };
    let net = port::NetworkDict::from_config(&loaded.config).map_err(|e| {
        let e = e.with_file(shown.clone());
        let mut out = Error::from(e);
        if let config::ConfigInput::File(p) = &req.config {
            out = out.with_path(p);
        }
        out
    })?;
    Ok(Some(net))
}

fn tf_dtype_of_pt(d: torch_pt::DType) -> Option<tf_bundle::DType> {
    tf_bundle::DType::from_name(d.name())
}

fn pt_dtype_of_tf(d: tf_bundle::DType) -> Option<torch_pt::DType> {
    torch_pt::DType::from_name(d.name())
}

/// The target's state-dict list: `.pt` (its state dict: RETURNN's `"model"`, else the top
/// level), `.safetensors` (the header), or a JSON list. In file order.
pub fn load_targets(path: &Path) -> Result<Vec<TensorSpec>> {
    let name = path.to_string_lossy();
    if name.ends_with(".json") {
        let bytes = read_bounded(path, MAX_TARGET_JSON).map_err(|e| target_err(path, e))?;
        let params = crate::torch_plan::torch_targets_from_json(&bytes, path)?;
        Ok(params
            .into_iter()
            .map(|p| TensorSpec::new(p.name, p.dtype, p.shape))
            .collect())
    } else if name.ends_with(".safetensors") {
        let mut f = std::fs::File::open(path).map_err(|e| target_err(path, e))?;
        let h = convert::to_tf::read_header(&mut f, path).map_err(|e| target_err(path, e))?;
        h.tensors
            .into_iter()
            .map(|(n, dt, shape, _, _)| {
                let d = convert::tf_dtype(dt).ok_or_else(|| {
                    target_err(
                        path,
                        format!("tensor '{n}' has dtype {dt:?}, which returnn-ckpt cannot port to"),
                    )
                    .with_key(n.clone())
                })?;
                Ok(TensorSpec::new(n, d, shape))
            })
            .collect()
    } else if name.ends_with(".pt") {
        let f = torch_pt::PtFile::open(path).map_err(|e| pt_target_err(path, e))?;
        let sd = f.state_dict().map_err(|e| pt_target_err(path, e))?;
        sd.tensors
            .into_iter()
            .map(|t| {
                let d = tf_dtype_of_pt(t.info.dtype).ok_or_else(|| {
                    target_err(
                        path,
                        format!("tensor '{}' has dtype {}", t.name, t.info.dtype),
                    )
                })?;
                Ok(TensorSpec::new(t.name, d, t.info.shape))
            })
            .collect()
    } else {
        Err(target_err(
            path,
            "expected a state dict: a .pt file, a .safetensors file or a JSON list (.json)",
        )
        .with_hint("save the module's state dict: torch.save(model.state_dict(), 'target.pt')"))
    }
}

fn pt_target_err(path: &Path, e: torch_pt::Error) -> Error {
    let mut out = target_err(path, e.to_string());
    if let Some(k) = e.key() {
        out = out.with_key(k);
    }
    out.with_source(e)
}

fn pt_out_err(out: &Path, e: torch_pt::Error) -> Error {
    let mut err = Error::new(ErrorKind::Output, e.to_string()).with_path(out);
    if let Some(k) = e.key() {
        err = err.with_key(k);
    }
    err.with_source(e)
}

fn open_checkpoint(path: &Path) -> Result<tf_bundle::Checkpoint> {
    tf_bundle::Checkpoint::open(path).map_err(|e| {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let e = Error::from(e);
        if ext == "pt" || ext == "safetensors" {
            e.with_hint(
                "port reads TF checkpoints (RETURNN's TF backend); a .pt or .safetensors file is already a torch state dict",
            )
        } else {
            e
        }
    })
}

/// The output format of `out`, from its extension.
fn output_form(out: &Path) -> Result<&'static str> {
    match out.extension().and_then(|e| e.to_str()) {
        Some("pt") => Ok("pt"),
        Some("safetensors") => Ok("safetensors"),
        _ => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{}: the output must be a .pt or a .safetensors file",
                out.display()
            ),
        )
        .with_path(out)
        .with_hint(
            "pass --out model.pt (RETURNN's PyTorch checkpoint) or --out model.safetensors",
        )),
    }
}

/// The checks every output gets before anything is read: form, existing, directory, inputs.
fn check_out(req: &PortRequest, out: &Path) -> Result<&'static str> {
    let form = output_form(out)?;
    let ext = if form == "pt" { ".pt" } else { ".safetensors" };
    check_output(out, OutputForm::File(ext), &[out.to_path_buf()], req.force)?;
    let inputs = [
        req.target.as_deref(),
        match &req.rules {
            RulesInput::File(p) => Some(p.as_path()),
            RulesInput::Text { .. } => None,
        },
        match req.config.as_ref().map(|c| &c.config) {
            Some(config::ConfigInput::File(p)) => Some(p.as_path()),
            _ => None,
        },
    ];
    if let Some(p) = inputs.into_iter().flatten().find(|p| same_file(p, out)) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{} is an input of this port ({})",
                out.display(),
                p.display()
            ),
        )
        .with_path(out)
        .with_hint("choose another output"));
    }
    if form != "pt" && (req.epoch.is_some() || req.step.is_some()) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "epoch and step are stored in a .pt output only",
        )
        .with_path(out));
    }
    if form == "pt"
        && req.pt_layout == PtLayout::Flat
        && (req.epoch.is_some() || req.step.is_some())
    {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "a flat .pt (the state dict only) has no epoch and step",
        )
        .with_path(out));
    }
    Ok(form)
}

/// Reads everything and computes the plan; writes nothing.
pub fn prepare(req: &PortRequest) -> Result<Prepared> {
    let (rules, rules_file) = load_rules(&req.rules)?;
    let net = load_network(req.config.as_ref())?;
    let ckpt = open_checkpoint(&req.checkpoint)?;
    let targets = req.target.as_deref().map(load_targets).transpose()?;
    let sources = port::plan::checkpoint_specs(&ckpt);
    let mut plan = port::plan(&rules, net.as_ref(), &sources, targets.as_deref())
        .map_err(|e| Error::from(e).with_path(rules_file.clone().unwrap_or_default()))?;
    plan.notes.extend(ckpt.notes().iter().cloned());
    let global_step = convert::to_safetensors::global_step(&ckpt).unwrap_or(None);
    Ok(Prepared {
        plan,
        target_order: targets.map(|t| t.into_iter().map(|s| s.name).collect()),
        target: req.target.clone(),
        rules_file,
        checkpoint: req.checkpoint.clone(),
        ckpt,
        global_step,
    })
}

/// What to do about a plan issue of `kind`.
pub fn issue_hint(kind: PortErrorKind) -> Option<&'static str> {
    Some(match kind {
        PortErrorKind::UnmappedVariable => {
            "map it with a [[layer]] or [[var]] rule, or list it under [ignore] tf = [...]"
        }
        PortErrorKind::UnfilledTarget => {
            "fill it with a [[layer]] or [[var]] rule, or list it under [ignore] targets = [...]"
        }
        PortErrorKind::UnknownTarget => {
            "check the rule's `target` (module path) and `module` (parameter names), or list it under [ignore] targets = [...]"
        }
        PortErrorKind::KindUnknown => "add a [[layer]] rule with `source = ...` for the layer",
        PortErrorKind::DtypeMismatch => "set `cast = true` under [defaults] to convert",
        PortErrorKind::ShapeMismatch => {
            "check the rule's `module` and `source`, or give the parameter a [[var]] rule with explicit transforms"
        }
        _ => return None,
    })
}

impl Prepared {
    /// The plan document.
    pub fn plan(&self) -> &PortPlan {
        &self.plan
    }

    /// The plan's issues as one error (the first issue's kind, file and key; every issue in
    /// the message), `Ok` for a plan without issues.
    pub fn check(&self) -> Result<()> {
        let Some(first) = self.plan.issues.first() else {
            return Ok(());
        };
        let n = self.plan.issues.len();
        let message = if n == 1 {
            format!("{} (nothing was written)", first.message)
        } else {
            const SHOWN: usize = 10;
            let mut m = format!("the port plan has {n} issues, nothing was written: ");
            let listed: Vec<String> = self
                .plan
                .issues
                .iter()
                .take(SHOWN)
                .enumerate()
                .map(|(i, is)| format!("{}. [{}] {}", i + 1, is.kind.label(), is.message))
                .collect();
            m.push_str(&listed.join("; "));
            if n > SHOWN {
                m.push_str(&format!("; and {} more", n - SHOWN));
            }
            m
        };
        let mut e = Error::new(ErrorKind::Port(first.kind), message);
        let path = match first.kind {
            PortErrorKind::RulesSyntax | PortErrorKind::RulesInvalid => self.rules_file.clone(),
            _ if first.tf.is_some() => Some(self.checkpoint.clone()),
            _ if first.target.is_some() => self.target.clone().or(self.rules_file.clone()),
            _ => None,
        };
        if let Some(p) = path {
            e = e.with_path(p);
        }
        if let Some(k) = first.tf.as_ref().or(first.target.as_ref()) {
            e = e.with_key(k.clone());
        }
        if let Some(h) = issue_hint(first.kind) {
            e = e.with_hint(if n > 1 {
                format!("{h}; the plan without --out lists every issue (--json: \"issues\")")
            } else {
                h.to_string()
            });
        }
        Err(e)
    }

    /// The `.pt` epoch and step `req` asks for (defaults: the checkpoint's epoch from its file
    /// name, else 1; its `global_step`, else 0).
    pub fn epoch_step(&self, req: &PortRequest) -> (i64, i64) {
        let epoch = req.epoch.unwrap_or_else(|| {
            convert::to_safetensors::epoch_from_prefix(self.ckpt.prefix())
                .and_then(|e| i64::try_from(e).ok())
                .filter(|&e| e > 0)
                .unwrap_or(1)
        });
        let step = req.step.or(self.global_step).unwrap_or(0);
        (epoch, step)
    }

    /// The planned parameters in output order: the target's order when a target was given,
    /// else by name.
    fn ordered(&self) -> Vec<&port::PlannedParam> {
        let mut params: Vec<&port::PlannedParam> = self.plan.params.iter().collect();
        if let Some(order) = &self.target_order {
            let pos: BTreeMap<&str, usize> = order
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), i))
                .collect();
            params.sort_by_key(|p| {
                (
                    pos.get(p.target.as_str()).copied().unwrap_or(usize::MAX),
                    p.target.clone(),
                )
            });
        }
        params
    }

    /// Computes every parameter and writes `out` (`.pt` or `.safetensors`); the plan must have
    /// no issues. The output appears only complete.
    pub fn write(&self, req: &PortRequest, out: &Path, progress: &dyn Progress) -> Result<Written> {
        self.check()?;
        let form = output_form(out)?;
        if is_checkpoint_file(self.ckpt.prefix(), out) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{} is a file of the input checkpoint", out.display()),
            )
            .with_path(out)
            .with_hint("choose another output"));
        }
        let params = self.ordered();
        for p in &params {
            let storable = if form == "pt" {
                pt_dtype_of_tf(p.dtype).is_some()
            } else {
                convert::safetensors_dtype(p.dtype).is_some()
            };
            if !storable {
                return Err(Error::new(
                    ErrorKind::Output,
                    format!(
                        "parameter '{}' has dtype {}, which a .{form} file cannot store",
                        p.target, p.dtype
                    ),
                )
                .with_path(out)
                .with_key(p.target.clone())
                .with_hint("cast it with a `cast` transform, or set `cast = true` with a target of that dtype"));
            }
        }
        let total: u64 = params
            .iter()
            .map(|p| port::array::byte_len(&p.meta()).unwrap_or(0))
            .sum();
        progress.begin("port", total);
        let result = self.write_inner(req, out, form, &params, progress);
        progress.end();
        let (epoch, step, layout) = result?;
        let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        Ok(Written {
            out: out.display().to_string(),
            format: form,
            layout,
            epoch,
            step,
            tensors: params.len(),
            bytes,
        })
    }

    fn compute(&self, p: &port::PlannedParam) -> Result<port::Array> {
        p.compute(&self.ckpt)
            .map_err(|e| Error::from(e).with_path(&self.checkpoint))
    }

    fn write_inner(
        &self,
        req: &PortRequest,
        out: &Path,
        form: &str,
        params: &[&port::PlannedParam],
        progress: &dyn Progress,
    ) -> Result<PtMeta> {
        if form == "pt" {
            let (layout, meta) = match req.pt_layout {
                PtLayout::Returnn => {
                    let (epoch, step) = self.epoch_step(req);
                    (
                        torch_pt::Layout::Returnn(torch_pt::ReturnnMeta {
                            epoch,
                            step,
                            effective_learning_rate: None,
                            returnn_version: format!(
                                "returnn-ckpt {} (port)",
                                env!("CARGO_PKG_VERSION")
                            ),
                        }),
                        (Some(epoch), Some(step), Some("returnn")),
                    )
                }
                PtLayout::Flat => (torch_pt::Layout::Flat, (None, None, Some("flat"))),
            };
            let mut w =
                torch_pt::StateDictWriter::create(out, layout).map_err(|e| pt_out_err(out, e))?;
            for p in params {
                let a = self.compute(p)?;
                let dt = pt_dtype_of_tf(a.dtype).ok_or_else(|| {
                    Error::new(ErrorKind::Output, format!("dtype {} in a .pt", a.dtype))
                        .with_path(out)
                        .with_key(p.target.clone())
                })?;
                w.add(&p.target, dt, &a.shape, &mut a.data.as_slice())
                    .map_err(|e| pt_out_err(out, e))?;
                progress.advance(a.data.len() as u64);
            }
            w.commit().map_err(|e| pt_out_err(out, e))?;
            Ok(meta)
        } else {
            let decl: Vec<(String, tf_bundle::DType, Vec<u64>)> = params
                .iter()
                .map(|p| (p.target.clone(), p.dtype, p.shape.clone()))
                .collect();
            let mut meta = BTreeMap::new();
            meta.insert("producer".to_string(), "returnn-ckpt port".to_string());
            let mut w = convert::SafetensorsWriter::create(out, decl, meta).map_err(Error::from)?;
            let by_name: BTreeMap<&str, &port::PlannedParam> =
                params.iter().map(|p| (p.target.as_str(), *p)).collect();
            let order: Vec<String> = w.order().map(str::to_string).collect();
            for name in order {
                let Some(p) = by_name.get(name.as_str()) else {
                    continue;
                };
                let a = self.compute(p)?;
                w.write_next(&p.target, &a.data).map_err(Error::from)?;
                progress.advance(a.data.len() as u64);
            }
            w.finish().map_err(Error::from)?;
            Ok((None, None, None))
        }
    }
}

/// Plans and, when `req.out` is given, writes.
pub fn run(req: &PortRequest, progress: &dyn Progress) -> Result<PortReport> {
    if let Some(out) = &req.out {
        check_out(req, out)?;
    }
    let prepared = prepare(req)?;
    let written = match &req.out {
        Some(out) => Some(prepared.write(req, out, progress)?),
        None => None,
    };
    Ok(PortReport {
        plan: prepared.plan,
        written,
    })
}

/// Checks `req.out` as [`run`] does before anything is read (faces that call [`prepare`] and
/// [`Prepared::write`] themselves call this first).
pub fn check_request(req: &PortRequest) -> Result<()> {
    if let Some(out) = &req.out {
        check_out(req, out)?;
    }
    Ok(())
}

/// Writes a starting rules file (or only returns it when `out` is `None`).
pub fn suggest(req: &SuggestRequest) -> Result<SuggestReport> {
    if let Some(out) = &req.out {
        if out.extension().is_none_or(|e| e != "toml") {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{}: the rules file must end in .toml", out.display()),
            )
            .with_path(out)
            .with_hint("pass --out rules.toml"));
        }
        check_output(
            out,
            OutputForm::File(".toml"),
            std::slice::from_ref(out),
            req.force,
        )?;
        if let Some(t) = req.target.as_deref().filter(|t| same_file(t, out)) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("{} is the target ({})", out.display(), t.display()),
            )
            .with_path(out));
        }
    }
    let net = load_network(req.config.as_ref())?;
    let ckpt = open_checkpoint(&req.checkpoint)?;
    let targets = req.target.as_deref().map(load_targets).transpose()?;
    let sources = port::plan::checkpoint_specs(&ckpt);
    let text = port::suggest(
        net.as_ref(),
        &sources,
        targets.as_deref(),
        &port::SuggestOptions { style: req.style },
    )?;
    // what the file says, read back as any rules file is, and what a plan with it still lacks
    let rules = Rules::from_toml(&text, "suggested rules")?;
    let plan = port::plan(&rules, net.as_ref(), &sources, targets.as_deref())?;
    if let Some(out) = &req.out {
        use std::io::Write;
        let mut f = ckpt_io::AtomicFile::create(out).map_err(|e| out_io(out, e))?;
        f.write_all(text.as_bytes()).map_err(|e| out_io(out, e))?;
        f.commit().map_err(|e| out_io(out, e))?;
    }
    let mut notes: Vec<String> = ckpt.notes().to_vec();
    notes.extend(plan.notes.iter().cloned());
    Ok(SuggestReport {
        out: req.out.as_ref().map(|p| p.display().to_string()),
        layers: rules.layers.len(),
        ok: plan.ok,
        issues: plan.issues,
        rules: text,
        notes,
    })
}

fn out_io(out: &Path, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Output, format!("{}: {e}", out.display()))
        .with_path(out)
        .with_source(e)
}
