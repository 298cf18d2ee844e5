//! The jobs of the library layer, one module each: a typed request, a `serde`-serialisable
//! report (its JSON is the stable contract every face prints or returns) and a `run` function.

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
