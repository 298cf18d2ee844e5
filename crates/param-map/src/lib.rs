//! # param-map
//!
//! Owns the equivalent of RETURNN's `CustomCheckpointLoader` / `preload_from_files`: which
//! checkpoint tensor fills which network variable (prefix, ignore lists, `var_name_mapping`,
//! automatic renames, batch-norm versions, LSTM layout conversions), computed as a plan before
//! anything is read or written. It works on names, shapes and a source-checkpoint trait
//! ([`TensorSource`]); it never opens files itself, never prints and never exits.
//!
//! * [`loader::plan_loader`]: one loader (docs/returnn-mapping.md §2-§8): constructor
//!   filtering, fast path, slow path name map, resolution and every RETURNN error, plus shape
//!   checks (RETURNN fails late at assignment, we fail in the plan).
//! * [`Planner`]: precedence between loaders (docs/returnn-mapping.md §10-§11): preload entries
//!   in the order given (the engine sorts them), first registrant wins, the main load never
//!   overwrites.
//! * [`convert`]: the value transforms (gate reorder, `[W; W_re]`, CuDNN), pure functions on
//!   [`Array`]s. [`Assignment::evaluate`] reads the sources and applies them.
//!
//! * Custom param importers ([`Importer`]): the string modes `reset`, `ifpossible` and
//!   `subset` (same shapes); `subset` with a shape change is [`MapErrorKind::Unsupported`]
//!   (its result depends on the variable's random init).
//!
//! * [`torch`]: RETURNN's PyTorch-engine `_load_model` ([`torch::plan_torch`]) and RF models
//!   on the TF engine ([`torch::plan_rf_tf`]): other precedence and name rules than the
//!   loader above (docs/returnn-pytorch.md §3), on state-dict keys.
//!
//! Not supported (RETURNN runs Python callables for these): `custom_missing_load_func` and
//! callable importers; the engine reports them as unsupported.
//!
//! Dtypes: values are produced in the source dtype (the conversions only move elements, except
//! the CuDNN bias sum, done with numpy's semantics for that dtype) and then converted to the
//! variable's dtype as numpy's `asarray(value, dtype)` does when RETURNN feeds it
//! ([`Array::cast`]; docs/returnn-mapping.md R-DTYPE-1).

pub mod array;
pub mod convert;
pub mod error;
pub mod loader;
pub mod mem;
pub mod plan;
pub mod torch;

pub use array::Array;
pub use convert::Transform;
pub use error::{MapError, MapErrorKind};
pub use loader::{
    plan_loader, Assignment, Importer, ImporterMode, LoaderOptions, LoaderOutcome, Rule, TargetVar,
    TensorMeta, TensorSource,
};
pub use mem::MemSource;
pub use plan::{Plan, Planner, Status, VarPlan};
