//! The layer presets: for a TF layer of a source kind and a target module kind, which target
//! parameters are filled from which TF variables by which transforms. `docs/port-rules.md`
//! lists every preset with its formulas; each is checked end to end by `cargo xtask
//! port-oracle`.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use crate::array::{py_shape, Meta};
use crate::error::{err, PortError, PortErrorKind};
use crate::kinds::{ModuleKind, SourceKind, TfLayer, VarIndex};
use crate::transform::{BlockPart, Op};

/// RF's and torch's LSTM gate order.
pub const TARGET_GATES: &str = "ifjo";

/// One target parameter a preset fills.
#[derive(Clone, Debug, PartialEq)]
pub struct DerivedParam {
    /// The module's parameter name (`ff_weight`, `weight_ih_l0`, `qkv.weight`, ...).
    pub param: String,
    /// The TF variables read, in order.
    pub inputs: Vec<String>,
    pub ops: Vec<Op>,
    /// Written only when the target list has it (or there is no target list).
    pub optional: bool,
}

/// What a preset derives for one layer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Derivation {
    pub params: Vec<DerivedParam>,
    /// What the target module must be built with to compute the same function.
    pub module_options: BTreeMap<String, Json>,
    pub notes: Vec<String>,
}

fn mismatch(layer: &TfLayer, msg: impl Into<String>) -> PortError {
    err(
        PortErrorKind::KindMismatch,
        format!("layer '{}': {}", layer.name, msg.into()),
    )
}

struct Ctx<'a> {
    layer: &'a TfLayer,
    vars: &'a VarIndex,
}

impl Ctx<'_> {
    fn key(&self, rel: &str) -> String {
        if self.layer.scope.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.layer.scope)
        }
    }
    fn get(&self, rel: &str) -> Option<(String, &Meta)> {
        let k = self.key(rel);
        self.vars.get(&k).map(|m| (k, m))
    }
    fn need(&self, rel: &str, what: &str) -> Result<(String, &Meta), PortError> {
        self.get(rel).ok_or_else(|| {
            mismatch(
                self.layer,
                format!(
                    "expected the {what} variable '{}', which the checkpoint does not have",
                    self.key(rel)
                ),
            )
        })
    }
}

fn dims2(layer: &TfLayer, name: &str, m: &Meta) -> Result<(u64, u64), PortError> {
    match m.shape.as_slice() {
        [a, b] => Ok((*a, *b)),
        other => Err(mismatch(
            layer,
            format!("'{name}' must be 2-D, found shape {}", py_shape(other)),
        )),
    }
}

fn dim1(layer: &TfLayer, name: &str, m: &Meta, want: Option<u64>) -> Result<u64, PortError> {
    match (m.shape.as_slice(), want) {
        ([a], Some(w)) if *a == w => Ok(*a),
        ([a], None) => Ok(*a),
        (other, w) => Err(mismatch(
            layer,
            format!(
                "'{name}' must be 1-D{}, found shape {}",
                w.map(|w| format!(" of length {w}")).unwrap_or_default(),
                py_shape(other)
            ),
        )),
    }
}

fn p(param: &str, inputs: Vec<String>, ops: Vec<Op>) -> DerivedParam {
    DerivedParam {
        param: param.to_string(),
        inputs,
        ops,
        optional: false,
    }
}

/// Which TF variables a layer of `source` would read (for messages and ownership), whether or
/// not they exist.
pub fn derive(
    layer: &TfLayer,
    source: SourceKind,
    module: ModuleKind,
    vars: &VarIndex,
) -> Result<Derivation, PortError> {
    if !module.accepts(source) {
        let ok: Vec<&str> = ModuleKind::candidates(source)
            .iter()
            .map(|m| m.name())
            .collect();
        return Err(err(
            PortErrorKind::RulesInvalid,
            format!(
                "layer '{}': module {module} cannot hold a {source} layer (possible: {})",
                layer.name,
                ok.join(", ")
            ),
        ));
    }
    if !layer.opts.unsupported.is_empty() {
        return Err(err(
            PortErrorKind::Unsupported,
            format!(
                "layer '{}': not portable to an equivalent module: {}",
                layer.name,
                layer.opts.unsupported.join(", ")
            ),
        ));
    }
    let c = Ctx { layer, vars };
    let mut d = match source {
        SourceKind::Linear | SourceKind::Embedding => linear(&c, module)?,
        SourceKind::Conv => conv(&c, module)?,
        SourceKind::SelfAttention => self_attention(&c, module)?,
        SourceKind::LayerNorm => layer_norm(&c, module)?,
        SourceKind::BatchNorm => batch_norm(&c, module)?,
        _ => lstm(&c, source, module)?,
    };
    if let Some(dir) = layer.opts.direction {
        if dir == -1 {
            d.module_options.insert("direction".into(), json!(-1));
            d.notes.push(
                "direction -1: the TF layer runs backwards in time; run the module on the time-reversed input and reverse its output (the parameters are the same)".into(),
            );
        }
    }
    Ok(d)
}

fn linear(c: &Ctx, module: ModuleKind) -> Result<Derivation, PortError> {
    let (w, wm) = c.need("W", "weight")?;
    let (a, b) = dims2(c.layer, &w, wm)?;
    let transposed = c.layer.opts.use_transposed_weights.unwrap_or(false);
    let (n_in, n_out) = if transposed { (b, a) } else { (a, b) };
    let bias = c.get("b");
    if let Some((bn, bm)) = &bias {
        dim1(c.layer, bn, bm, Some(n_out))?;
    }
    let t = || Op::Transpose { axes: vec![1, 0] };
    let mut d = Derivation::default();
    let (w_ops, embedding) = match module {
        ModuleKind::RfLinear | ModuleKind::RfEmbedding => (
            if transposed { vec![t()] } else { vec![] },
            module == ModuleKind::RfEmbedding,
        ),
        ModuleKind::NnLinear => (if transposed { vec![] } else { vec![t()] }, false),
        _ => (if transposed { vec![t()] } else { vec![] }, true),
    };
    d.params.push(p("weight", vec![w], w_ops));
    if embedding {
        d.module_options.insert("in_dim".into(), json!(n_in));
        d.module_options.insert("out_dim".into(), json!(n_out));
        if let Some((bn, _)) = bias {
            d.notes.push(format!(
                "{module} has no bias: '{bn}' is not ported (an embedding with a bias is not the same function)"
            ));
        }
    } else {
        d.module_options.insert("in_dim".into(), json!(n_in));
        d.module_options.insert("out_dim".into(), json!(n_out));
        d.module_options
            .insert("with_bias".into(), json!(bias.is_some()));
        if let Some((bn, _)) = bias {
            d.params.push(p("bias", vec![bn], vec![]));
        }
    }
    Ok(d)
}

fn conv(c: &Ctx, module: ModuleKind) -> Result<Derivation, PortError> {
    let (w, wm) = c.need("W", "filter")?;
    let r = wm.shape.len();
    let nd = module.conv_dims().unwrap_or(0);
    if r != nd + 2 {
        return Err(mismatch(
            c.layer,
            format!(
                "{module} needs a filter of rank {}, '{w}' has shape {}",
                nd + 2,
                py_shape(&wm.shape)
            ),
        ));
    }
    let out = wm.shape[r - 1];
    let in_per_group = wm.shape[r - 2];
    let groups = c.layer.opts.groups.unwrap_or(1).max(1) as u64;
    // TF [*filter, in/groups, out] -> RF/torch [out, in/groups, *filter]
    let mut axes = vec![r - 1, r - 2];
    axes.extend(0..r - 2);
    let mut d = Derivation::default();
    let wname = if module.style() == crate::kinds::Style::Rf {
        "filter"
    } else {
        "weight"
    };
    d.params
        .push(p(wname, vec![w], vec![Op::Transpose { axes }]));
    let bias = c.get("bias");
    if let Some((bn, bm)) = &bias {
        dim1(c.layer, bn, bm, Some(out))?;
        d.params.push(p("bias", vec![bn.clone()], vec![]));
    }
    d.module_options
        .insert("in_dim".into(), json!(in_per_group * groups));
    d.module_options.insert("out_dim".into(), json!(out));
    d.module_options
        .insert("filter_size".into(), json!(wm.shape[..r - 2].to_vec()));
    d.module_options.insert("groups".into(), json!(groups));
    d.module_options
        .insert("with_bias".into(), json!(bias.is_some()));
    if let Some(pad) = &c.layer.opts.padding {
        d.module_options.insert("padding".into(), json!(pad));
    }
    Ok(d)
}

fn self_attention(c: &Ctx, module: ModuleKind) -> Result<Derivation, PortError> {
    let (q, qm) = c.need("QKV", "QKV")?;
    let (n_in, total) = dims2(c.layer, &q, qm)?;
    let mut d = Derivation::default();
    match module {
        ModuleKind::RfSelfAttention => d.params.push(p("qkv.weight", vec![q.clone()], vec![])),
        ModuleKind::RfLinear => d.params.push(p("weight", vec![q.clone()], vec![])),
        _ => d.params.push(p(
            "weight",
            vec![q.clone()],
            vec![Op::Transpose { axes: vec![1, 0] }],
        )),
    }
    d.module_options.insert("in_dim".into(), json!(n_in));
    d.module_options.insert("with_bias".into(), json!(false));
    if let (Some(k), Some(v)) = (c.layer.opts.total_key_dim, c.layer.opts.n_out) {
        d.module_options.insert("key_dim_total".into(), json!(k));
        d.module_options.insert("value_dim_total".into(), json!(v));
        if (2 * k + v) as u64 != total {
            return Err(mismatch(
                c.layer,
                format!("'{q}' has {total} columns, the network dict says 2 * {k} + {v}"),
            ));
        }
    }
    if let Some(h) = c.layer.opts.num_heads {
        d.module_options.insert("num_heads".into(), json!(h));
    }
    if c.layer.opts.attention_left_only == Some(true) {
        d.notes
            .push("attention_left_only: use rf.CausalSelfAttention (same parameters)".into());
    }
    d.notes.push(
        "QKV columns are per head [q_h | k_h | v_h], as RF's qkv; no output projection (proj_dim None)".into(),
    );
    if module == ModuleKind::NnLinear {
        d.notes
            .push("nn.Linear: weight = QKV transposed; split per head as RF does".into());
    }
    Ok(d)
}

fn layer_norm(c: &Ctx, module: ModuleKind) -> Result<Derivation, PortError> {
    let (s, sm) = c.need("scale", "scale")?;
    let f = dim1(c.layer, &s, sm, None)?;
    let bias = c.get("bias");
    let mut d = Derivation::default();
    let (sn, bn) = if module == ModuleKind::RfLayerNorm {
        ("scale", "bias")
    } else {
        ("weight", "bias")
    };
    d.params.push(p(sn, vec![s], vec![]));
    if let Some((b, bm)) = bias {
        dim1(c.layer, &b, bm, Some(f))?;
        d.params.push(p(bn, vec![b], vec![]));
    }
    d.module_options.insert("in_dim".into(), json!(f));
    d.module_options
        .insert("eps".into(), json!(c.layer.opts.epsilon.unwrap_or(1e-6)));
    Ok(d)
}

fn batch_norm(c: &Ctx, module: ModuleKind) -> Result<Derivation, PortError> {
    let prefix = format!(
        "{}batch_norm/",
        if c.layer.scope.is_empty() {
            String::new()
        } else {
            format!("{}/", c.layer.scope)
        }
    );
    let names: Vec<&String> = c
        .vars
        .keys()
        .filter(|k| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
        .collect();
    let mut found: BTreeMap<&str, (String, &Meta)> = BTreeMap::new();
    for pname in ["mean", "variance", "gamma", "beta"] {
        let v2 = format!("v2_{pname}");
        let suffix = format!("_{pname}");
        let cands: Vec<&&String> = names
            .iter()
            .filter(|k| {
                let rest = &k[prefix.len()..];
                rest == v2 || rest == pname || (rest.ends_with(&suffix) && !rest.starts_with("v2_"))
            })
            .collect();
        match cands.as_slice() {
            [] => {}
            [one] => {
                let m = &c.vars[one.as_str()];
                found.insert(pname, ((**one).clone(), m));
            }
            many => {
                return Err(mismatch(
                    c.layer,
                    format!(
                        "several batch-norm {pname} variables: {}",
                        many.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ))
            }
        }
    }
    let (Some(mean), Some(var)) = (found.get("mean"), found.get("variance")) else {
        return Err(mismatch(
            c.layer,
            format!("expected batch-norm statistics '{prefix}v2_mean' / '{prefix}v2_variance' (or the v0/v1 names)"),
        ));
    };
    // every parameter is [F] (v2) or [1, ..., 1, F, 1, ...] (v0, v1): one non-1 dim
    let flat = |name: &str, m: &Meta| -> Result<(u64, Vec<Op>), PortError> {
        let big: Vec<u64> = m.shape.iter().copied().filter(|&d| d != 1).collect();
        let f = match big.as_slice() {
            [f] => *f,
            [] if !m.shape.is_empty() => 1,
            _ => {
                return Err(mismatch(
                    c.layer,
                    format!(
                        "batch-norm variable '{name}' has shape {}, expected [F] or [1, ..., F]",
                        py_shape(&m.shape)
                    ),
                ))
            }
        };
        let ops = if m.shape.len() == 1 {
            vec![]
        } else {
            vec![Op::Reshape {
                shape: vec![f as i64],
            }]
        };
        Ok((f, ops))
    };
    let (f, _) = flat(&mean.0, mean.1)?;
    let torch = module == ModuleKind::NnBatchNorm1d;
    let mut d = Derivation::default();
    let names_rf = [
        ("mean", "running_mean"),
        ("variance", "running_variance"),
        ("gamma", "gamma"),
        ("beta", "beta"),
    ];
    let names_nn = [
        ("mean", "running_mean"),
        ("variance", "running_var"),
        ("gamma", "weight"),
        ("beta", "bias"),
    ];
    let table = if torch { names_nn } else { names_rf };
    let affine = found.contains_key("gamma") || found.contains_key("beta");
    for (src, dst) in table {
        match found.get(src) {
            Some((name, m)) => {
                let (ff, ops) = flat(name, m)?;
                if ff != f {
                    return Err(mismatch(
                        c.layer,
                        format!(
                            "batch-norm variable '{name}' has {ff} features, '{}' has {f}",
                            mean.0
                        ),
                    ));
                }
                d.params.push(p(dst, vec![name.clone()], ops));
            }
            None if affine && (src == "gamma" || src == "beta") => {
                // use_std False / use_shift False with the other one present: the identity
                let value = if src == "gamma" { 1.0 } else { 0.0 };
                d.params.push(p(
                    dst,
                    vec![],
                    vec![Op::Const {
                        value,
                        dtype: mean.1.dtype,
                        shape: vec![f],
                    }],
                ));
                d.notes.push(format!(
                    "no batch-norm {src} in the checkpoint (use_{}=False): {dst} = {value}",
                    if src == "gamma" { "std" } else { "shift" }
                ));
            }
            None => {}
        }
    }
    let _ = var;
    if torch {
        d.params.push(DerivedParam {
            param: "num_batches_tracked".into(),
            inputs: vec![],
            ops: vec![Op::Const {
                value: 0.0,
                dtype: tf_bundle::DType::Int64,
                shape: vec![],
            }],
            optional: true,
        });
    }
    d.module_options.insert("in_dim".into(), json!(f));
    d.module_options
        .insert("eps".into(), json!(c.layer.opts.epsilon.unwrap_or(1e-3)));
    d.module_options.insert("affine".into(), json!(affine));
    d.notes.push("outputs agree in eval mode (running statistics); TF's batch_norm eval uses them from behavior_version 12 on".into());
    Ok(d)
}

/// The LSTM parameters in a common form: `ff` `[n_in, 4n]`, `rec` `[r, 4n]` (r = n, or the
/// projection size p), `bias` `[4n]`, all with gate blocks in `gates` order, plus the constant
/// forget bias the TF cell adds at run time and the projection `[n, p]`.
struct LstmSrc {
    ff: (Vec<String>, Vec<Op>),
    rec: (Vec<String>, Vec<Op>),
    bias: Option<(Vec<String>, Vec<Op>)>,
    gates: &'static str,
    forget_bias: f64,
    proj: Option<String>,
    n_in: u64,
    n: u64,
    p: Option<u64>,
}

fn cell_like(
    c: &Ctx,
    dirs: &[&str],
    kernels: &[&str],
    biases: &[&str],
    forget_bias: f64,
    with_proj: bool,
) -> Result<LstmSrc, PortError> {
    let dir = dirs
        .iter()
        .find(|d| kernels.iter().any(|k| c.get(&format!("{d}/{k}")).is_some()))
        .ok_or_else(|| {
            mismatch(
                c.layer,
                format!(
                    "expected an LSTM kernel at '{}'",
                    c.key(&format!("{}/{}", dirs[0], kernels[0]))
                ),
            )
        })?;
    let (k, km) = kernels
        .iter()
        .find_map(|k| c.get(&format!("{dir}/{k}")))
        .ok_or_else(|| mismatch(c.layer, "no kernel"))?;
    let (rows, cols) = dims2(c.layer, &k, km)?;
    if cols % 4 != 0 || cols == 0 {
        return Err(mismatch(
            c.layer,
            format!("'{k}' has {cols} columns, not 4n"),
        ));
    }
    let n = cols / 4;
    let proj = if with_proj {
        c.get(&format!("{dir}/projection/kernel"))
    } else {
        None
    };
    let r = match &proj {
        Some((pn, pm)) => {
            let (pr, pc) = dims2(c.layer, pn, pm)?;
            if pr != n {
                return Err(mismatch(
                    c.layer,
                    format!("projection '{pn}' has {pr} rows, expected n = {n}"),
                ));
            }
            pc
        }
        None => n,
    };
    if rows <= r {
        return Err(mismatch(
            c.layer,
            format!(
                "'{k}' has shape {}, expected (n_in + {r}, {cols}) with n_in > 0",
                py_shape(&km.shape)
            ),
        ));
    }
    let n_in = rows - r;
    let bias = biases.iter().find_map(|b| c.get(&format!("{dir}/{b}")));
    if let Some((bn, bm)) = &bias {
        dim1(c.layer, bn, bm, Some(cols))?;
    }
    let split = |i| Op::Split {
        axis: 0,
        sizes: Some(vec![n_in, r]),
        parts: None,
        index: i,
    };
    Ok(LstmSrc {
        ff: (vec![k.clone()], vec![split(0)]),
        rec: (vec![k], vec![split(1)]),
        bias: bias.map(|(b, _)| (vec![b], vec![])),
        gates: "ijfo",
        forget_bias,
        p: proj.as_ref().map(|_| r),
        proj: proj.map(|(pn, _)| pn),
        n_in,
        n,
    })
}

fn lstm_src(c: &Ctx, source: SourceKind) -> Result<LstmSrc, PortError> {
    let fb_default = |d: f64| c.layer.opts.forget_bias.unwrap_or(d);
    match source {
        SourceKind::NativeLstm => {
            let (w, wm) = c.need("rec/W", "NativeLSTM input weight")?;
            let (wr, wrm) = c.need("rec/W_re", "NativeLSTM recurrent weight")?;
            let (n_in, cols) = dims2(c.layer, &w, wm)?;
            let (n, cols2) = dims2(c.layer, &wr, wrm)?;
            if cols != cols2 || cols != 4 * n {
                return Err(mismatch(
                    c.layer,
                    format!(
                        "expected W (n_in, 4n) and W_re (n, 4n), found W {} and W_re {}",
                        py_shape(&wm.shape),
                        py_shape(&wrm.shape)
                    ),
                ));
            }
            let bias = c.get("rec/b");
            if let Some((bn, bm)) = &bias {
                dim1(c.layer, bn, bm, Some(cols))?;
            }
            Ok(LstmSrc {
                ff: (vec![w], vec![]),
                rec: (vec![wr], vec![]),
                bias: bias.map(|(b, _)| (vec![b], vec![])),
                gates: "jifo",
                forget_bias: 0.0,
                proj: None,
                n_in,
                n,
                p: None,
            })
        }
        SourceKind::LstmCell => cell_like(
            c,
            &[
                "rec/lstm_cell",
                "rec/rnn/lstm_cell",
                "rec/basic_lstm_cell",
                "rec/rnn/basic_lstm_cell",
            ],
            &["kernel", "weights"],
            &["bias", "biases"],
            fb_default(1.0),
            true,
        ),
        SourceKind::LstmBlock => cell_like(
            c,
            &["rec/lstm_block_wrapper", "rec/lstm_fused_cell"],
            &["kernel"],
            &["bias"],
            fb_default(1.0),
            false,
        ),
        _ => {
            // CuDNN: the 16 canonical tensors, or the CuDNN-compatible cell
            let canon: Vec<Option<(String, &Meta)>> = (0..16)
                .map(|t| c.get(&format!("rec/cudnn/CudnnRNNParamsToCanonical:{t}")))
                .collect();
            if canon.iter().all(Option::is_some) {
                let names: Vec<String> = canon.iter().flatten().map(|(n, _)| n.clone()).collect();
                let metas: Vec<Meta> = canon.iter().flatten().map(|(_, m)| (*m).clone()).collect();
                let kmeta = Op::CudnnToBlock {
                    part: BlockPart::Kernel,
                }
                .output_meta(&metas)
                .map_err(|e| mismatch(c.layer, e.message().to_string()))?;
                let n = kmeta[0].shape[1] / 4;
                let n_in = kmeta[0].shape[0] - n;
                let split = |i| Op::Split {
                    axis: 0,
                    sizes: Some(vec![n_in, n]),
                    parts: None,
                    index: i,
                };
                let k = Op::CudnnToBlock {
                    part: BlockPart::Kernel,
                };
                return Ok(LstmSrc {
                    ff: (names.clone(), vec![k.clone(), split(0)]),
                    rec: (names.clone(), vec![k, split(1)]),
                    bias: Some((
                        names,
                        vec![Op::CudnnToBlock {
                            part: BlockPart::Bias,
                        }],
                    )),
                    gates: "ijfo",
                    forget_bias: 0.0,
                    proj: None,
                    n_in,
                    n,
                    p: None,
                });
            }
            if canon.iter().any(Option::is_some) {
                let missing: Vec<String> = (0..16)
                    .filter(|t| canon[*t].is_none())
                    .map(|t| c.key(&format!("rec/cudnn/CudnnRNNParamsToCanonical:{t}")))
                    .collect();
                return Err(mismatch(
                    c.layer,
                    format!(
                        "incomplete CuDNN canonical params, missing {}",
                        missing.join(", ")
                    ),
                ));
            }
            cell_like(
                c,
                &["rec/cudnn/params_canonical/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell"],
                &["kernel"],
                &["bias"],
                0.0,
                false,
            )
        }
    }
}

fn lstm(c: &Ctx, source: SourceKind, module: ModuleKind) -> Result<Derivation, PortError> {
    let s = lstm_src(c, source)?;
    let torch = module == ModuleKind::NnLstm;
    if s.proj.is_some() && !torch {
        return Err(err(
            PortErrorKind::Unsupported,
            format!(
                "layer '{}': an LSTM with projection (num_proj) has no RF module; use module = \"nn.LSTM\" (proj_size)",
                c.layer.name
            ),
        ));
    }
    let reorder = |axis| -> Vec<Op> {
        if s.gates == TARGET_GATES {
            vec![]
        } else {
            vec![Op::GateReorder {
                axis,
                from: s.gates.to_string(),
                to: TARGET_GATES.to_string(),
            }]
        }
    };
    let weight = |src: &(Vec<String>, Vec<Op>)| {
        let mut ops = src.1.clone();
        ops.extend(reorder(1));
        ops.push(Op::Transpose { axes: vec![1, 0] });
        (src.0.clone(), ops)
    };
    let (ffi, ffo) = weight(&s.ff);
    let (rci, rco) = weight(&s.rec);
    let mut d = Derivation::default();
    let (ffn, rcn) = if torch {
        ("weight_ih_l0", "weight_hh_l0")
    } else {
        ("ff_weight", "rec_weight")
    };
    d.params.push(p(ffn, ffi, ffo));
    d.params.push(p(rcn, rci, rco));
    match &s.bias {
        Some((bi, bo)) => {
            let mut ops = bo.clone();
            ops.extend(reorder(0));
            if s.forget_bias != 0.0 {
                ops.push(Op::Add {
                    value: s.forget_bias,
                    axis: Some(0),
                    blocks: Some(4),
                    block: Some(TARGET_GATES.find('f').unwrap_or(1) as u64),
                });
                d.notes.push(format!(
                    "the TF cell adds forget_bias {} to the f gate at run time; it is folded into the bias",
                    s.forget_bias
                ));
            }
            if torch {
                let mut half = ops.clone();
                half.push(Op::Scale { factor: 0.5 });
                d.params.push(p("bias_ih_l0", bi.clone(), half.clone()));
                d.params.push(p("bias_hh_l0", bi.clone(), half));
                d.notes.push("nn.LSTM adds bias_ih and bias_hh: each holds half of the bias (as RF's torch backend does)".into());
            } else {
                d.params.push(p("bias", bi.clone(), ops));
            }
        }
        None if s.forget_bias != 0.0 => {
            return Err(mismatch(
                c.layer,
                format!(
                    "the cell has no bias but a forget_bias of {}",
                    s.forget_bias
                ),
            ))
        }
        None => {}
    }
    if let (Some(pn), Some(p_)) = (&s.proj, s.p) {
        if p_ >= s.n {
            return Err(err(
                PortErrorKind::Unsupported,
                format!(
                    "layer '{}': projection size {p_} is not smaller than the {} units; nn.LSTM requires proj_size < hidden_size (torch infers the projection from the state sizes)",
                    c.layer.name, s.n
                ),
            ));
        }
        d.params.push(p(
            "weight_hr_l0",
            vec![pn.clone()],
            vec![Op::Transpose { axes: vec![1, 0] }],
        ));
        d.module_options.insert("proj_size".into(), json!(p_));
    }
    if torch {
        d.module_options.insert("input_size".into(), json!(s.n_in));
        d.module_options.insert("hidden_size".into(), json!(s.n));
        d.module_options
            .insert("bias".into(), json!(s.bias.is_some()));
    } else {
        d.module_options.insert("in_dim".into(), json!(s.n_in));
        d.module_options.insert("out_dim".into(), json!(s.n));
        d.module_options
            .insert("with_bias".into(), json!(s.bias.is_some()));
    }
    d.module_options
        .insert("source_gates".into(), json!(s.gates));
    d.module_options
        .insert("forget_bias".into(), json!(s.forget_bias));
    Ok(d)
}
