//! Which tensors an output gets, under which names: `--include`, `--exclude`, `--rename`,
//! `--no-optimizer`.
//!
//! Rules, in this order, on the *source* name:
//! 1. `--include REGEX` (repeatable): if any is given, a tensor is kept only if at least one
//!    matches (unanchored search, like Python's `re.search`; anchor with `^…$`).
//! 2. `--exclude REGEX` (repeatable): a tensor matching any is dropped.
//! 3. `--no-optimizer`: a tensor for which [`is_optimizer_state`] holds is dropped.
//!
//! Then `--rename REGEX=REPLACEMENT` rules (repeatable) are applied in the given order, each
//! replacing all matches (like `re.sub`; `$1`/`${name}` refer to groups). The rule is split at
//! its first `=`. Two tensors renamed to the same name are an error.

use regex::Regex;

use crate::{Error, ErrorKind};

/// True for the optimizer state `--no-optimizer` drops. Exactly these names:
/// * a last path component `Adam` or `Adam_1` (TF1 `AdamOptimizer` slots, as RETURNN saves
///   them with `debug_save_updater_vars`, e.g. `optimize/fw0/rec/W/Adam_1`);
/// * a last path component `beta1_power` or `beta2_power` (Adam's accumulators);
/// * any name with a path component `.OPTIMIZER_SLOT` (TF2 object-based slot variables);
/// * any name whose first component is `optimizer`, **except** `optimizer/_trainable_variables/…`:
///   with Keras 3 the model's own weights are first reachable through the optimizer and are
///   saved under that path (fixtures/NOTES.md, finding 11), so they are kept.
pub fn is_optimizer_state(name: &str) -> bool {
    let mut parts = name.split('/');
    let first = parts.next().unwrap_or("");
    let last = name.rsplit('/').next().unwrap_or("");
    if matches!(last, "Adam" | "Adam_1" | "beta1_power" | "beta2_power") {
        return true;
    }
    if name.split('/').any(|p| p == ".OPTIMIZER_SLOT") {
        return true;
    }
    first == "optimizer" && name.split('/').nth(1) != Some("_trainable_variables")
}

/// A compiled selection (see the module docs). The default selects everything unchanged.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
    renames: Vec<(Regex, String)>,
    no_optimizer: bool,
}

fn compile(pattern: &str, what: &str) -> Result<Regex, Error> {
    Regex::new(pattern)
        .map_err(|e| Error::new(ErrorKind::InvalidOption(format!("{what} '{pattern}': {e}"))))
}

impl Selection {
    /// Builds a selection from the command-line strings.
    pub fn new(
        include: &[String],
        exclude: &[String],
        renames: &[String],
        no_optimizer: bool,
    ) -> Result<Self, Error> {
        Ok(Selection {
            include: include
                .iter()
                .map(|p| compile(p, "--include"))
                .collect::<Result<_, _>>()?,
            exclude: exclude
                .iter()
                .map(|p| compile(p, "--exclude"))
                .collect::<Result<_, _>>()?,
            renames: renames
                .iter()
                .map(|r| parse_rename(r))
                .collect::<Result<_, _>>()?,
            no_optimizer,
        })
    }

    /// Whether the tensor `name` (source name) is kept.
    pub fn selects(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
            && !self.exclude.iter().any(|r| r.is_match(name))
            && !(self.no_optimizer && is_optimizer_state(name))
    }

    /// The output name of `name`.
    pub fn rename(&self, name: &str) -> String {
        let mut out = name.to_string();
        for (re, rep) in &self.renames {
            out = re.replace_all(&out, rep.as_str()).into_owned();
        }
        out
    }

    /// `(source name, output name)` for every selected name, in input order; an error if two
    /// output names collide or a rename produces an empty name.
    pub fn apply<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut seen = std::collections::HashMap::new();
        let mut out = Vec::new();
        for n in names {
            if !self.selects(n) {
                continue;
            }
            let r = self.rename(n);
            if r.is_empty() {
                return Err(Error::new(ErrorKind::InvalidOption(format!(
                    "--rename turns '{n}' into an empty name"
                ))));
            }
            if let Some(prev) = seen.insert(r.clone(), n.to_string()) {
                return Err(Error::new(ErrorKind::NameCollision(format!(
                    "'{prev}' and '{n}' are both renamed to '{r}'"
                ))));
            }
            out.push((n.to_string(), r));
        }
        Ok(out)
    }
}

/// Parses `REGEX=REPLACEMENT` (split at the first `=`).
pub fn parse_rename(spec: &str) -> Result<(Regex, String), Error> {
    let (pat, rep) = spec.split_once('=').ok_or_else(|| {
        Error::new(ErrorKind::InvalidOption(format!(
            "--rename '{spec}': expected REGEX=REPLACEMENT"
        )))
    })?;
    Ok((compile(pat, "--rename")?, rep.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimizer_state_rules() {
        let table = [
            ("optimize/fw0/rec/W/Adam", true),
            ("fw0/rec/W/Adam_1", true),
            ("optimize/beta1_power", true),
            ("beta2_power", true),
            (
                "model/dense/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE",
                true,
            ),
            ("optimizer/_variables/3/.ATTRIBUTES/VARIABLE_VALUE", true),
            ("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE", true),
            (
                "optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE",
                false,
            ),
            ("fw0/rec/W", false),
            ("Adam/W", false),
            ("global_step", false),
            ("my_optimizer/x", false),
            ("layer/Adam_2", false),
        ];
        for (name, opt) in table {
            assert_eq!(is_optimizer_state(name), opt, "{name}");
        }
    }

    #[test]
    fn include_exclude_rename_in_order() {
        let s = Selection::new(
            &["^fw0/".into(), "^output/".into()],
            &["_re$".into()],
            &["^fw0/rec/=lstm/".into(), "^lstm/(.)$=L_$1".into()],
            false,
        )
        .unwrap();
        let names = [
            "fw0/rec/W",
            "fw0/rec/W_re",
            "fw0/rec/b",
            "output/W",
            "hid/W",
        ];
        let got = s.apply(names).unwrap();
        assert_eq!(
            got,
            [
                ("fw0/rec/W".to_string(), "L_W".to_string()),
                ("fw0/rec/b".into(), "L_b".into()),
                ("output/W".into(), "output/W".into())
            ]
        );
    }

    #[test]
    fn bad_options_and_collisions() {
        let e = Selection::new(&["(".into()], &[], &[], false).unwrap_err();
        assert_eq!(e.kind().label(), "invalid_option");
        let e = Selection::new(&[], &[], &["noequals".into()], false).unwrap_err();
        assert_eq!(e.kind().label(), "invalid_option");
        let s = Selection::new(&[], &[], &["/.*$=".into()], false).unwrap();
        let e = s.apply(["a/x", "a/y"]).unwrap_err();
        assert_eq!(e.kind().label(), "name_collision");
        let s = Selection::new(&[], &[], &[], true).unwrap();
        assert_eq!(s.apply(["w", "w/Adam", "beta1_power"]).unwrap().len(), 1);
    }
}
