//! `suggest`: a starting rules file. One `[[layer]]` rule per TF layer with parameters, with
//! the source kind, the module and the target path made explicit (so the file also works
//! without the config). Target paths default to the TF layer names (`/` -> `.`); with a target
//! list, each layer gets the first module (RF before torch) whose parameters the target list has
//! under that path with the same shapes.

use std::fmt::Write as _;

use crate::error::PortError;
use crate::kinds::{ModuleKind, SourceKind, Style, TfLayer, VarIndex};
use crate::net::{is_bookkeeping, NetworkDict};
use crate::plan::{
    default_module, discover_layers, join_target, owned_prefix, plan, var_index, TensorSpec,
};
use crate::preset::derive;
use crate::rules::{LayerRule, Rules};
use crate::transform::chain_meta;

/// A TOML basic string.
pub fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_float(x: f64) -> String {
    if x.is_finite() && x == x.trunc() && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// What a preset derives, compared between modules.
type Signature = Vec<(String, Vec<String>, Vec<crate::transform::Op>)>;

/// Options of [`suggest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SuggestOptions {
    /// Which of two fitting modules to take when RF's and torch's both fit the target list
    /// but compute different values (a square `weight`); default: the style the other layers
    /// show, else RF.
    pub style: Option<Style>,
}

/// Whether `module` at `path` fits the target list exactly (every non-optional parameter is
/// there with the planned dtype and shape).
fn fits(
    layer: &TfLayer,
    source: SourceKind,
    module: ModuleKind,
    path: &str,
    vars: &VarIndex,
    targets: &[TensorSpec],
) -> bool {
    let Ok(d) = derive(layer, source, module, vars) else {
        return false;
    };
    !d.params.is_empty()
        && d.params.iter().all(|p| {
            let name = join_target(path, &p.param);
            let Some(t) = targets.iter().find(|t| t.name == name) else {
                return p.optional;
            };
            let metas: Option<Vec<_>> = p.inputs.iter().map(|i| vars.get(i).cloned()).collect();
            metas
                .and_then(|m| chain_meta(&m, &p.ops).ok())
                .is_some_and(|m| m.shape == t.shape)
        })
}

/// Writes a starting rules file for the checkpoint's variables (`sources`), with the network
/// dict and the target list when given.
pub fn suggest(
    network: Option<&NetworkDict>,
    sources: &[TensorSpec],
    targets: Option<&[TensorSpec]>,
    opts: &SuggestOptions,
) -> Result<String, PortError> {
    let vars = var_index(sources)?;
    let layers = discover_layers(network, &vars)?;
    let mut rules = Rules::default();
    let mut comments: Vec<(usize, String)> = Vec::new();
    let mut unknown = Vec::new();
    let mut choices: Vec<(usize, SourceKind, Vec<ModuleKind>)> = Vec::new();
    for layer in &layers {
        let prefix = owned_prefix(layer);
        let under: Vec<&String> = vars
            .keys()
            .filter(|k| k.starts_with(&prefix) && !is_bookkeeping(k))
            .collect();
        if under.is_empty() {
            continue;
        }
        let Some(source) = layer.source else {
            unknown.push(format!(
                "layer '{}'{}: kind unknown, variables {}",
                layer.name,
                layer
                    .opts
                    .class
                    .as_ref()
                    .map(|c| format!(" (class {c:?})"))
                    .unwrap_or_default(),
                under
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        };
        let path = layer.default_target();
        let mut module = default_module(source, Style::Rf, layer, &vars);
        let mut note = None;
        let mut fitting = Vec::new();
        if let Some(t) = targets {
            let mut cands = vec![module, default_module(source, Style::Torch, layer, &vars)];
            cands.extend(ModuleKind::candidates(source));
            for m in cands {
                if !fitting.contains(&m) && fits(layer, source, m, &path, &vars, t) {
                    fitting.push(m);
                }
            }
            match fitting.first() {
                Some(m) => module = *m,
                None => {
                    note = Some(format!(
                        "no module's parameters are in the target list under '{path}'; check module and target"
                    ))
                }
            }
        }
        choices.push((rules.layers.len(), source, fitting));
        let mut rule = LayerRule {
            name: Some(layer.name.clone()),
            source: Some(source),
            module: Some(module),
            target: Some(path),
            ..LayerRule::default()
        };
        if matches!(source, SourceKind::LstmCell | SourceKind::LstmBlock) {
            rule.forget_bias = Some(layer.opts.forget_bias.unwrap_or(1.0));
        }
        if layer.opts.use_transposed_weights == Some(true) {
            rule.use_transposed_weights = Some(true);
        }
        if let Some(n) = note {
            comments.push((rules.layers.len(), n));
        }
        if layer.origin == crate::kinds::Origin::Variables && source.is_lstm() {
            comments.push((
                rules.layers.len(),
                "kind inferred from the variable names; check forget_bias (TF's default 1.0 for LSTMCell/LSTMBlock)".into(),
            ));
        }
        rules.layers.push(rule);
    }
    // RF and torch modules that both fit but compute different values (e.g. a square
    // rf.Linear.weight vs nn.Linear.weight): take the style the unambiguous layers show
    let sig = |l: &LayerRule, src: SourceKind, m: ModuleKind| -> Option<Signature> {
        let layer = layers.iter().find(|x| Some(&x.name) == l.name.as_ref())?;
        let d = derive(layer, src, m, &vars).ok()?;
        Some(
            d.params
                .into_iter()
                .map(|p| (p.param, p.inputs, p.ops))
                .collect(),
        )
    };
    let (mut rf_votes, mut torch_votes) = (0, 0);
    let mut ambiguous = Vec::new();
    for (i, src, fitting) in &choices {
        let rf = fitting.iter().find(|m| m.style() == Style::Rf);
        let torch = fitting.iter().find(|m| m.style() == Style::Torch);
        match (rf, torch) {
            (Some(a), Some(b)) => {
                if sig(&rules.layers[*i], *src, *a) != sig(&rules.layers[*i], *src, *b) {
                    ambiguous.push((*i, *a, *b));
                }
            }
            (Some(_), None) => rf_votes += 1,
            (None, Some(_)) => torch_votes += 1,
            (None, None) => {}
        }
    }
    let style = opts.style.unwrap_or(if torch_votes > rf_votes {
        Style::Torch
    } else {
        Style::Rf
    });
    for (i, a, b) in ambiguous {
        rules.layers[i].module = Some(if style == Style::Torch { b } else { a });
        if opts.style.is_none() && rf_votes == 0 && torch_votes == 0 {
            comments.push((
                i,
                format!("both {a} and {b} fit the target list (with different values); chose {}: check module", if style == Style::Torch { b } else { a }),
            ));
        }
    }
    if !rules.layers.is_empty()
        && rules
            .layers
            .iter()
            .all(|l| l.module.is_some_and(|m| m.style() == Style::Torch))
    {
        rules.defaults.style = Style::Torch;
    }
    // what is still open, from a plan with these rules
    let p = plan(&rules, network, sources, targets)?;
    let mut out = String::new();
    out.push_str(
        "# returnn-ckpt port rules (format: docs/port-rules.md), written by `port --suggest`.\n",
    );
    out.push_str(
        "# Every TF layer with parameters has a [[layer]] rule: source kind, module kind and\n",
    );
    out.push_str(
        "# target module path are explicit; edit `target` where the model names differ.\n",
    );
    let _ = writeln!(out, "version = {}", rules.version);
    out.push_str("\n[defaults]\n");
    let _ = writeln!(
        out,
        "style = {}",
        toml_str(if rules.defaults.style == Style::Rf {
            "rf"
        } else {
            "torch"
        })
    );
    out.push_str("auto = true\nignore_bookkeeping = true\ncast = false\n");
    out.push_str("\n[ignore]\n");
    if p.unmapped.is_empty() {
        out.push_str("tf = []\n");
    } else {
        out.push_str(
            "# not mapped by any rule (map them with [[var]] rules, or keep them here):\n",
        );
        out.push_str("# tf = [");
        out.push_str(
            &p.unmapped
                .iter()
                .map(|u| toml_str(&u.name))
                .collect::<Vec<_>>()
                .join(", "),
        );
        out.push_str("]\n");
    }
    if !p.unfilled.is_empty() {
        out.push_str("# target parameters no rule fills:\n# targets = [");
        out.push_str(
            &p.unfilled
                .iter()
                .map(|u| toml_str(&u.name))
                .collect::<Vec<_>>()
                .join(", "),
        );
        out.push_str("]\n");
    }
    for u in &unknown {
        let _ = writeln!(
            out,
            "# {u}: add a [[layer]] rule with `source`, or [[var]] rules"
        );
    }
    for (i, r) in rules.layers.iter().enumerate() {
        out.push_str("\n[[layer]]\n");
        for (j, c) in &comments {
            if *j == i {
                let _ = writeln!(out, "# {c}");
            }
        }
        if let Some(n) = &r.name {
            let _ = writeln!(out, "name = {}", toml_str(n));
        }
        if let Some(s) = r.source {
            let _ = writeln!(out, "source = {}", toml_str(s.name()));
        }
        if let Some(m) = r.module {
            let _ = writeln!(out, "module = {}", toml_str(m.name()));
        }
        if let Some(t) = &r.target {
            let _ = writeln!(out, "target = {}", toml_str(t));
        }
        if let Some(fb) = r.forget_bias {
            let _ = writeln!(out, "forget_bias = {}", toml_float(fb));
        }
        if let Some(tw) = r.use_transposed_weights {
            let _ = writeln!(out, "use_transposed_weights = {tw}");
        }
        if let Some(l) = p.layers.iter().find(|l| Some(&l.layer) == r.name.as_ref()) {
            for param in &l.params {
                if let Some(pp) = p.param(param) {
                    let names: Vec<&str> = pp.inputs.iter().map(|i| i.name.as_str()).collect();
                    let from = match names.as_slice() {
                        [] => "(constant)".to_string(),
                        [a, .., b] if names.len() > 3 => {
                            format!("{a} ... {b} ({} inputs)", names.len())
                        }
                        _ => names.join(", "),
                    };
                    let _ = writeln!(out, "#   {param} <- {from}");
                }
            }
        }
    }
    Ok(out)
}
