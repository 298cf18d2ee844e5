//! # port
//!
//! Owns porting TF net-dict checkpoints (RETURNN's TF backend) to the parameters of RETURNN
//! frontend (RF) or plain PyTorch modules, from a declarative rules file (TOML,
//! `docs/port-rules.md`): which TF layer or variable becomes which target parameter, as what
//! kind of module, by which transforms.
//!
//! * [`Rules`]: the rules file (`[[layer]]` presets, `[[var]]` explicit transforms, ignores).
//! * [`NetworkDict`]: the layer kinds and options from the config's network dict (parsed by
//!   `returnn-config`); without it, kinds come from the variable names and shapes.
//! * [`plan()`]: (rules, network dict, source tensor list, target list) -> [`PortPlan`], a
//!   serde document: every TF variable -> target parameter with its transform chain, unmapped
//!   variables, unfilled targets, ignores, and the shape/dtype checks against the target.
//! * [`PlannedParam::compute`]: one target tensor from a [`TensorSource`], reading only its
//!   inputs (memory is bounded by one parameter and its inputs).
//! * [`suggest()`]: a starting rules file.
//! * [`transform`]: the transforms, pure functions on typed [`Array`]s with shape-only twins.
//!
//! It never opens files (the caller passes the rules text, the config and the tensor lists),
//! never prints, never panics on input, and never writes output: the caller writes what
//! [`PlannedParam::compute`] returns (e.g. through `convert::SafetensorsWriter`).

pub mod array;
pub mod error;
pub mod kinds;
pub mod net;
pub mod plan;
pub mod preset;
pub mod rules;
pub mod suggest;
pub mod transform;

pub use array::{Array, Meta};
pub use error::{PortError, PortErrorKind};
pub use kinds::{ModuleKind, SourceKind, Style, TfLayer};
pub use net::NetworkDict;
pub use plan::{plan, PlanIssue, PlannedLayer, PlannedParam, PortPlan, TensorSource, TensorSpec};
pub use rules::Rules;
pub use suggest::{suggest, SuggestOptions};
pub use transform::Op;
