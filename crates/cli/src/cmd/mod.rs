//! One module per subcommand: its clap `Args` and its `run`.

pub mod avg;
pub mod cleanup;
pub mod convert;
pub mod diff;
pub mod epochs;
pub mod inspect;
pub mod load;
pub mod path;
pub mod plan;
pub mod port;
pub mod resolve;
pub mod verify;
