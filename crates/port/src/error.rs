//! Typed errors: a `Copy` [`PortErrorKind`] with a stable snake_case label, the message (what
//! was expected versus found) and, where known, the file, the TF variable and the target
//! parameter concerned.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What went wrong; [`PortErrorKind::label`] is the stable name used in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PortErrorKind {
    /// The rules file is not valid TOML or does not follow the format (unknown key, wrong type).
    RulesSyntax,
    /// The rules file parses but says something impossible (bad regex, unknown version, a
    /// transform with wrong arguments, a module that cannot hold the source kind).
    RulesInvalid,
    /// The network dict (or `extern_data`) in the config has an unexpected form.
    NetworkInvalid,
    /// The kind of a TF layer cannot be decided from the network dict or the variable names:
    /// the rules must say `source = ...`.
    KindUnknown,
    /// The layer's variables do not look like the source kind says (names or shapes).
    KindMismatch,
    /// A rule names a TF variable the checkpoint does not have.
    MissingInput,
    /// A TF variable that no rule maps and no ignore entry names.
    UnmappedVariable,
    /// A target parameter that nothing fills and no ignore entry names.
    UnfilledTarget,
    /// A planned target parameter the target list does not have.
    UnknownTarget,
    /// Two rules fill the same target parameter.
    DuplicateTarget,
    /// The planned value's shape differs from the target's.
    ShapeMismatch,
    /// The planned value's dtype differs from the target's (and the rules do not cast).
    DtypeMismatch,
    /// A transform cannot be applied to its inputs (shapes, dtypes, arguments).
    TransformFailed,
    /// Something the rules or the layer ask for that this tool does not port (e.g. an RF module
    /// for an LSTM with projection, `cell_clip`).
    Unsupported,
    /// Reading a source tensor failed, or it differs from what the plan was made for.
    Read,
}

impl PortErrorKind {
    /// Every kind (for label lists).
    pub const ALL: [PortErrorKind; 15] = [
        PortErrorKind::RulesSyntax,
        PortErrorKind::RulesInvalid,
        PortErrorKind::NetworkInvalid,
        PortErrorKind::KindUnknown,
        PortErrorKind::KindMismatch,
        PortErrorKind::MissingInput,
        PortErrorKind::UnmappedVariable,
        PortErrorKind::UnfilledTarget,
        PortErrorKind::UnknownTarget,
        PortErrorKind::DuplicateTarget,
        PortErrorKind::ShapeMismatch,
        PortErrorKind::DtypeMismatch,
        PortErrorKind::TransformFailed,
        PortErrorKind::Unsupported,
        PortErrorKind::Read,
    ];

    /// Stable snake_case label.
    pub fn label(self) -> &'static str {
        match self {
            PortErrorKind::RulesSyntax => "rules_syntax",
            PortErrorKind::RulesInvalid => "rules_invalid",
            PortErrorKind::NetworkInvalid => "network_invalid",
            PortErrorKind::KindUnknown => "kind_unknown",
            PortErrorKind::KindMismatch => "kind_mismatch",
            PortErrorKind::MissingInput => "missing_input",
            PortErrorKind::UnmappedVariable => "unmapped_variable",
            PortErrorKind::UnfilledTarget => "unfilled_target",
            PortErrorKind::UnknownTarget => "unknown_target",
            PortErrorKind::DuplicateTarget => "duplicate_target",
            PortErrorKind::ShapeMismatch => "shape_mismatch",
            PortErrorKind::DtypeMismatch => "dtype_mismatch",
            PortErrorKind::TransformFailed => "transform_failed",
            PortErrorKind::Unsupported => "unsupported",
            PortErrorKind::Read => "read",
        }
    }
}

/// A port error: kind, message and the file / TF variable / target parameter concerned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PortError {
    kind: PortErrorKind,
    message: String,
    file: Option<String>,
    tf: Option<String>,
    target: Option<String>,
}

impl PortError {
    /// A new error of `kind`.
    pub fn new(kind: PortErrorKind, message: impl Into<String>) -> PortError {
        PortError {
            kind,
            message: message.into(),
            file: None,
            tf: None,
            target: None,
        }
    }

    /// Attaches the file concerned (rules file, checkpoint), if none is attached yet.
    pub fn with_file(mut self, file: impl Into<String>) -> PortError {
        self.file.get_or_insert_with(|| file.into());
        self
    }

    /// Attaches the TF variable (checkpoint key) concerned, if none is attached yet.
    pub fn with_tf(mut self, name: impl Into<String>) -> PortError {
        self.tf.get_or_insert_with(|| name.into());
        self
    }

    /// Attaches the target parameter concerned, if none is attached yet.
    pub fn with_target(mut self, name: impl Into<String>) -> PortError {
        self.target.get_or_insert_with(|| name.into());
        self
    }

    pub fn kind(&self) -> PortErrorKind {
        self.kind
    }

    /// The message without file / key decoration.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    pub fn tf(&self) -> Option<&str> {
        self.tf.as_deref()
    }

    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut parts = Vec::new();
        if let Some(t) = &self.tf {
            parts.push(format!("TF variable '{t}'"));
        }
        if let Some(t) = &self.target {
            parts.push(format!("target '{t}'"));
        }
        if let Some(p) = &self.file {
            parts.push(format!("file '{p}'"));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

pub(crate) fn err(kind: PortErrorKind, msg: impl Into<String>) -> PortError {
    PortError::new(kind, msg)
}
