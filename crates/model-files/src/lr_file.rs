//! RETURNN's learning-rate-control ("newbob") file (docs/returnn-engine.md §12): a Python-literal
//! dict `epoch -> EpochData(learningRate=..., error={...})`, read without executing anything
//! (parsed with `rustpython-parser`, only the literal forms RETURNN writes are evaluated: numbers,
//! `np.float32(x)`-style wrappers, `float('nan')`, `nan`, `inf`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustpython_parser::ast::{self, Constant, Expr};
use rustpython_parser::Parse;

use crate::fs::Fs;
use crate::Epoch;

/// Largest learning-rate file we read.
const MAX_LR_FILE_BYTES: u64 = 256 << 20;

/// One epoch's entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EpochData {
    /// `learningRate` (or `learning_rate`); `None` if absent or not a number.
    pub learning_rate: Option<f64>,
    /// Scores (the `error` dict without `:meta:` keys), in file order.
    pub scores: Vec<(String, f64)>,
    /// `:meta:` entries with the prefix removed, in file order.
    pub meta: Vec<(String, f64)>,
}

impl EpochData {
    pub fn score(&self, key: &str) -> Option<f64> {
        self.scores.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// The parsed file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LrFile {
    pub epochs: BTreeMap<Epoch, EpochData>,
    /// Things RETURNN would reject or that were ignored (e.g. an int `learningRate`).
    pub warnings: Vec<String>,
}

/// Why the file could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: {message}")]
pub struct LrFileError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl LrFile {
    /// Reads and parses a learning-rate file through `fs` (`path` as the config gives it).
    pub fn load(fs: &dyn Fs, path: &str) -> Result<LrFile, LrFileError> {
        let err = |m: String| LrFileError {
            file: PathBuf::from(path),
            line: None,
            message: m,
        };
        let buf = fs.read_file(path, MAX_LR_FILE_BYTES).map_err(|e| {
            if e.kind() == std::io::ErrorKind::FileTooLarge {
                err(format!(
                    "larger than {MAX_LR_FILE_BYTES} bytes; not a learning-rate file"
                ))
            } else {
                err(e.to_string())
            }
        })?;
        let text = String::from_utf8(buf).map_err(|_| err("not UTF-8 text".into()))?;
        LrFile::parse(&text, Path::new(path))
    }

    /// Parses the text of a learning-rate file (`path` is used in messages).
    pub fn parse(text: &str, path: &Path) -> Result<LrFile, LrFileError> {
        let line_of = |off: usize| text[..off.min(text.len())].matches('\n').count() + 1;
        let err = |off: Option<usize>, m: String| LrFileError {
            file: path.to_path_buf(),
            line: off.map(line_of),
            message: m,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Ok(LrFile::default());
        }
        let lead = text.len() - text.trim_start().len();
        returnn_config::python::with_parser_stack(|| {
            LrFile::parse_trimmed(text, trimmed, lead, path)
        })
        .unwrap_or_else(|| Err(err(None, "internal error while parsing".into())))
    }

    fn parse_trimmed(
        text: &str,
        trimmed: &str,
        lead: usize,
        path: &Path,
    ) -> Result<LrFile, LrFileError> {
        let line_of = |off: usize| text[..off.min(text.len())].matches('\n').count() + 1;
        let err = |off: Option<usize>, m: String| LrFileError {
            file: path.to_path_buf(),
            line: off.map(line_of),
            message: m,
        };
        let mut out = LrFile::default();
        returnn_config::python::check_nesting(trimmed, rustpython_parser::Mode::Expression)
            .map_err(|e| {
                let line = e.line + text[..lead].matches('\n').count();
                LrFileError {
                    file: path.to_path_buf(),
                    line: Some(line),
                    message: format!("line {line}: {}", e.message),
                }
            })?;
        let expr = Expr::parse(trimmed, &path.to_string_lossy()).map_err(|e| {
            let off = usize::from(e.offset) + lead;
            err(
                Some(off),
                format!(
                    "line {}: syntax error: {} (expected RETURNN's `{{epoch: EpochData(...), ...}}`)",
                    line_of(off),
                    e.error
                ),
            )
        })?;
        let Expr::Dict(d) = expr else {
            return Err(err(
                None,
                "expected a dict `{epoch: EpochData(...), ...}` at the top level".into(),
            ));
        };
        for (k, v) in d.keys.iter().zip(d.values.iter()) {
            let off = usize::from(ast::Ranged::start(v)) + lead;
            let Some(k) = k else {
                return Err(err(Some(off), "`**` in the top-level dict".into()));
            };
            let epoch = match k {
                Expr::Constant(c) => match &c.value {
                    Constant::Int(i) => i.to_string().parse::<Epoch>().ok(),
                    _ => None,
                },
                _ => None,
            };
            let Some(epoch) = epoch else {
                return Err(err(
                    Some(off),
                    format!(
                        "line {}: expected a non-negative integer epoch as key",
                        line_of(off)
                    ),
                ));
            };
            let data = epoch_data(v, epoch, &mut out.warnings).map_err(|m| {
                err(
                    Some(off),
                    format!("line {}: epoch {epoch}: {m}", line_of(off)),
                )
            })?;
            out.epochs.insert(epoch, data);
        }
        Ok(out)
    }

    /// RETURNN's `get_error_key(epoch)` (docs/returnn-engine.md §12): the default score key of an
    /// epoch.
    pub fn get_error_key(&self, epoch: Epoch, error_measure: &[String]) -> Option<String> {
        let data = self.epochs.get(&epoch)?;
        get_error_key(data, error_measure)
    }

    /// The last epoch that has any score (what `get-best-model-epoch.py` takes the key from).
    pub fn last_epoch_with_scores(&self) -> Option<Epoch> {
        self.epochs
            .iter()
            .rev()
            .find(|(_, d)| !d.scores.is_empty())
            .map(|(e, _)| *e)
    }
}

/// `get_error_key` on one epoch's data.
pub fn get_error_key(data: &EpochData, error_measure: &[String]) -> Option<String> {
    let keys: Vec<&str> = data.scores.iter().map(|(k, _)| k.as_str()).collect();
    if keys.is_empty() {
        return None;
    }
    if keys.len() == 1 && keys[0] == "old_format_score" {
        return Some("old_format_score".into());
    }
    let has = |k: &str| keys.contains(&k);
    for m in error_measure {
        if has(m) {
            return Some(m.clone());
        }
        let o = format!("{m}_output");
        if has(&o) {
            return Some(o);
        }
    }
    for k in ["dev_score", "dev_score_output"] {
        if has(k) {
            return Some(k.into());
        }
    }
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    if let Some(k) = sorted
        .iter()
        .find(|k| **k == "dev_score_output/output" || k.starts_with("dev_score_output/output_"))
    {
        return Some((*k).into());
    }
    for prefix in ["dev_score_output/", "dev_"] {
        if let Some(k) = sorted.iter().find(|k| k.starts_with(prefix)) {
            return Some((*k).into());
        }
    }
    for k in ["train_score", "train_score_output"] {
        if has(k) {
            return Some(k.into());
        }
    }
    sorted.first().map(|k| (*k).to_string())
}

fn epoch_data(v: &Expr, epoch: Epoch, warnings: &mut Vec<String>) -> Result<EpochData, String> {
    let Expr::Call(call) = v else {
        return Err("expected EpochData(...)".into());
    };
    if callee_name(&call.func).as_deref() != Some("EpochData") {
        return Err("expected EpochData(...)".into());
    }
    let mut lr: Option<&Expr> = call.args.first();
    let mut error: Option<&Expr> = call.args.get(1);
    for kw in &call.keywords {
        match kw.arg.as_ref().map(|a| a.as_str()) {
            Some("learningRate") | Some("learning_rate") => lr = Some(&kw.value),
            Some("error") => error = Some(&kw.value),
            Some(other) => warnings.push(format!(
                "epoch {epoch}: unknown EpochData argument {other:?} ignored"
            )),
            None => return Err("`**kwargs` in EpochData(...)".into()),
        }
    }
    let mut data = EpochData::default();
    if let Some(lr) = lr {
        match number(lr) {
            Some((x, false)) => data.learning_rate = Some(x),
            Some((x, true)) => {
                warnings.push(format!(
                    "epoch {epoch}: learningRate is an integer literal; RETURNN raises TypeError for it"
                ));
                data.learning_rate = Some(x);
            }
            None => {
                if !matches!(lr, Expr::Constant(c) if matches!(c.value, Constant::None)) {
                    warnings.push(format!("epoch {epoch}: learningRate is not a number"));
                }
            }
        }
    }
    match error {
        None => {}
        Some(Expr::Constant(c)) if matches!(c.value, Constant::None) => {}
        Some(Expr::Dict(d)) => {
            for (k, v) in d.keys.iter().zip(d.values.iter()) {
                let key = match k {
                    Some(Expr::Constant(c)) => match &c.value {
                        Constant::Str(s) => s.clone(),
                        _ => return Err("error dict key is not a string".into()),
                    },
                    _ => return Err("error dict key is not a string".into()),
                };
                let Some((x, _)) = number(v) else {
                    // `:meta:` entries are no scores (docs/returnn-engine.md §12): RETURNN's
                    // PyTorch engine stores strings and None there (host, device, versions).
                    if !key.starts_with(":meta:") {
                        warnings.push(format!(
                            "epoch {epoch}: score {key:?} is not a number; ignored"
                        ));
                    }
                    continue;
                };
                let (list, name) = match key.strip_prefix(":meta:") {
                    Some(m) => (&mut data.meta, m.to_string()),
                    None => (&mut data.scores, key),
                };
                if let Some(slot) = list.iter_mut().find(|(k, _)| *k == name) {
                    slot.1 = x;
                } else {
                    list.push((name, x));
                }
            }
        }
        Some(other) => match number(other) {
            Some((x, _)) => data.scores.push(("old_format_score".into(), x)),
            None => return Err("error is neither a dict, a number nor None".into()),
        },
    }
    Ok(data)
}

fn callee_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Name(n) => Some(n.id.to_string()),
        Expr::Attribute(a) => Some(format!("{}.{}", callee_name(&a.value)?, a.attr.as_str())),
        _ => None,
    }
}

/// A number as RETURNN writes it; the flag says whether it was an integer literal.
fn number(e: &Expr) -> Option<(f64, bool)> {
    match e {
        Expr::Constant(c) => match &c.value {
            Constant::Float(f) => Some((*f, false)),
            Constant::Int(i) => i.to_string().parse::<f64>().ok().map(|x| (x, true)),
            Constant::Bool(b) => Some((f64::from(u8::from(*b)), true)),
            _ => None,
        },
        Expr::UnaryOp(u) => {
            let (x, is_int) = number(&u.operand)?;
            match u.op {
                ast::UnaryOp::USub => Some((-x, is_int)),
                ast::UnaryOp::UAdd => Some((x, is_int)),
                _ => None,
            }
        }
        Expr::Name(n) => match n.id.as_str() {
            "nan" => Some((f64::NAN, false)),
            "inf" => Some((f64::INFINITY, false)),
            _ => None,
        },
        Expr::Attribute(_) => match callee_name(e)?.as_str() {
            "np.nan" | "numpy.nan" | "math.nan" => Some((f64::NAN, false)),
            "np.inf" | "numpy.inf" | "math.inf" => Some((f64::INFINITY, false)),
            _ => None,
        },
        Expr::Call(call) => {
            let name = callee_name(&call.func)?;
            let base = name
                .strip_prefix("np.")
                .or_else(|| name.strip_prefix("numpy."))
                .unwrap_or(&name);
            if call.args.len() != 1 || !call.keywords.is_empty() {
                return None;
            }
            let arg = &call.args[0];
            match base {
                "float" | "float16" | "float32" | "float64" | "float128" | "longdouble"
                | "double" | "single" | "half" => {
                    let x = match arg {
                        Expr::Constant(c) if matches!(c.value, Constant::Str(_)) => {
                            let Constant::Str(s) = &c.value else {
                                return None;
                            };
                            py_float_from_str(s)?
                        }
                        _ => number(arg)?.0,
                    };
                    // numpy float32 values are printed with their float32 value; keep it
                    // (float16 is approximated by float32 rounding).
                    let x = if matches!(base, "float32" | "single" | "float16" | "half") {
                        f64::from(x as f32)
                    } else {
                        x
                    };
                    Some((x, false))
                }
                "int" | "int8" | "int16" | "int32" | "int64" | "uint8" | "uint16" | "uint32"
                | "uint64" => number(arg).map(|(x, _)| (x.trunc(), true)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Python's `float(str)` for the forms that occur (`'nan'`, `'inf'`, `'-inf'`, numbers).
fn py_float_from_str(s: &str) -> Option<f64> {
    let t = s.trim().to_ascii_lowercase();
    match t.as_str() {
        "nan" | "+nan" | "-nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => t.replace('_', "").parse::<f64>().ok(),
    }
}
