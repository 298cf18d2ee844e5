//! # xtask
//!
//! Developer tasks run as `cargo xtask <task>` (alias in `.cargo/config.toml`): fixture
//! regeneration, the TensorFlow differential oracle, benchmarks and fuzzing. Never part of the
//! product: nothing in `crates/` depends on it.

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    anyhow::bail!("unknown xtask '{task}'")
}
