//! The rules file (TOML), as documented in `docs/port-rules.md`: defaults, ignore lists,
//! per-layer rules (`[[layer]]`: a preset for a TF layer) and per-variable rules (`[[var]]`:
//! explicit transforms).

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{err, PortError, PortErrorKind};
use crate::kinds::{ModuleKind, SourceKind, Style};
use crate::transform::Op;

/// The rules-file format version this crate reads and writes.
pub const RULES_VERSION: u32 = 1;

/// `[defaults]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Module kinds (and so parameter names) for layers whose rule names no module.
    #[serde(default)]
    pub style: Style,
    /// Port layers no `[[layer]]` rule names, with the default module and target path.
    #[serde(default = "yes")]
    pub auto: bool,
    /// Leave `global_step`, optimizer slots (`.../Adam`, ...) and the like out without
    /// listing them as unmapped.
    #[serde(default = "yes")]
    pub ignore_bookkeeping: bool,
    /// Cast a value to the target's dtype when they differ (else a `dtype_mismatch` error).
    #[serde(default)]
    pub cast: bool,
}

fn yes() -> bool {
    true
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            style: Style::Rf,
            auto: true,
            ignore_bookkeeping: true,
            cast: false,
        }
    }
}

/// `[ignore]`: names deliberately left out. Regexes must match the whole name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ignore {
    /// TF variables not to report as unmapped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tf: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tf_match: Vec<String>,
    /// Target parameters never written and not reported as unfilled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets_match: Vec<String>,
}

/// `[[layer]]`: which preset ports a TF layer, into which module.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerRule {
    /// The TF layer name (`dec/s` for a sub-layer), exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Or a regex over layer names (whole name); its groups are `{1}`, `{2}`, ... in `target`.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The TF variable scope, when it is not the layer name (e.g. `dec/rec/s`). Only with
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The source kind, when the network dict and the variable names do not tell it (or to
    /// override them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceKind>,
    /// The target module kind (default: from `source` and `defaults.style`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<ModuleKind>,
    /// The target module path (default: the layer name with `/` -> `.`); `""` for the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Leave the layer out: its variables are ignored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore: bool,
    /// The cell's forget bias (LSTMCell / LSTMBlock sources), overriding the network dict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forget_bias: Option<f64>,
    /// `use_transposed_weights` of a `linear` layer, overriding the network dict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_transposed_weights: Option<bool>,
    /// `groups` of a `conv` layer (only informs `module_options`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<i64>,
    /// Renames of the module's parameters: preset name -> name under the target path (e.g.
    /// `weight_ih_l0 = "weight_ih_l0_reverse"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// `[[var]]`: one target parameter from explicit TF variables and transforms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VarRule {
    /// The TF variable, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Or a regex over TF variable names (whole name); groups `{1}`... in `target`, `inputs`.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The TF variables read, in order (default: the matched variable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
    /// The target parameter.
    pub target: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<Op>,
}

/// A parsed rules file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub version: u32,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub ignore: Ignore,
    #[serde(default, rename = "layer", skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerRule>,
    #[serde(default, rename = "var", skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<VarRule>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            version: RULES_VERSION,
            defaults: Defaults::default(),
            ignore: Ignore::default(),
            layers: vec![],
            vars: vec![],
        }
    }
}

/// A whole-name regex.
pub(crate) fn full_regex(p: &str, what: &str) -> Result<Regex, PortError> {
    Regex::new(&format!("^(?:{p})$")).map_err(|e| {
        err(
            PortErrorKind::RulesInvalid,
            format!("{what}: invalid regex {p:?}: {e}"),
        )
    })
}

/// Replaces `{1}`, `{2}`, ... (and `{0}`, the whole match) by the capture groups.
pub(crate) fn substitute(template: &str, caps: Option<&regex::Captures<'_>>) -> String {
    let Some(caps) = caps else {
        return template.to_string();
    };
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) if after[..end].chars().all(|c| c.is_ascii_digit()) && end > 0 => {
                let idx: usize = after[..end].parse().unwrap_or(usize::MAX);
                out.push_str(caps.get(idx).map_or("", |m| m.as_str()));
                rest = &after[end + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl Rules {
    /// Parses a rules file's text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Rules, PortError> {
        let rules: Rules = toml::from_str(text).map_err(|e| {
            let span = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            err(
                PortErrorKind::RulesSyntax,
                format!("{}{span}", e.message().trim()),
            )
            .with_file(file)
        })?;
        rules.validate().map_err(|e| e.with_file(file))?;
        Ok(rules)
    }

    /// The rules as TOML text (what [`Rules::from_toml`] reads back).
    pub fn to_toml(&self) -> Result<String, PortError> {
        toml::to_string(self).map_err(|e| err(PortErrorKind::RulesInvalid, e.to_string()))
    }

    /// Checks what serde cannot: version, name xor match, regexes, transform arguments.
    pub fn validate(&self) -> Result<(), PortError> {
        let invalid = |m: String| err(PortErrorKind::RulesInvalid, m);
        if self.version != RULES_VERSION {
            return Err(invalid(format!(
                "version {} is not supported (this tool reads version {RULES_VERSION})",
                self.version
            )));
        }
        for p in self
            .ignore
            .tf_match
            .iter()
            .chain(&self.ignore.targets_match)
        {
            full_regex(p, "ignore")?;
        }
        for (i, l) in self.layers.iter().enumerate() {
            let what = format!("layer rule {}", i + 1);
            match (&l.name, &l.pattern) {
                (Some(_), None) => {}
                (None, Some(p)) => {
                    full_regex(p, &what)?;
                    if l.scope.is_some() {
                        return Err(invalid(format!(
                            "{what}: `scope` needs `name`, not `match`"
                        )));
                    }
                }
                _ => {
                    return Err(invalid(format!(
                        "{what}: give exactly one of `name` or `match`"
                    )))
                }
            }
            if let (Some(s), Some(m)) = (l.source, l.module) {
                if !m.accepts(s) {
                    return Err(invalid(format!(
                        "{what}: module {m} cannot hold a {s} layer"
                    )));
                }
            }
        }
        for (i, v) in self.vars.iter().enumerate() {
            let what = format!("var rule {}", i + 1);
            match (&v.name, &v.pattern) {
                (Some(_), None) => {}
                (None, Some(p)) => {
                    full_regex(p, &what)?;
                }
                (None, None) if v.inputs.is_some() => {}
                _ => {
                    return Err(invalid(format!(
                        "{what}: give exactly one of `name` or `match` (or only `inputs`)"
                    )))
                }
            }
            if v.target.is_empty() {
                return Err(invalid(format!("{what}: `target` is empty")));
            }
            if v.inputs.as_ref().is_some_and(|i| i.is_empty())
                && !matches!(v.transforms.first(), Some(Op::Const { .. }))
            {
                return Err(invalid(format!(
                    "{what}: empty `inputs` needs a `const` transform first"
                )));
            }
        }
        Ok(())
    }
}
