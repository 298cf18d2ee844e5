//! Arguments several commands share: RETURNN's working directory (`-C DIR`) and the
//! `++key value` overrides with the flags that may follow them.

use std::path::PathBuf;

/// `-C DIR`: the same on every command that reads a RETURNN config or model paths.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct WorkDir {
    /// Run as if RETURNN were started in DIR: relative paths inside the config (model,
    /// load, preload files, include, learning-rate file) resolve there. Paths given on this
    /// command line stay relative to the current directory
    #[arg(short = 'C', long = "cwd", value_name = "DIR")]
    pub cwd: Option<PathBuf>,
}

impl WorkDir {
    /// The request's base directory (empty: the current directory).
    pub fn base(&self) -> PathBuf {
        self.cwd.clone().unwrap_or_default()
    }

    /// A command-line path as the library must be given it when `-C` is set: absolute, so
    /// that it does not change meaning (the library resolves config-internal paths only).
    pub fn command_line_path(&self, p: &std::path::Path) -> PathBuf {
        if self.cwd.is_some() {
            std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
        } else {
            p.to_path_buf()
        }
    }
}

/// Flags that may follow the overrides (`trailing_var_arg` takes everything after CONFIG).
pub struct TrailingFlags {
    pub json: bool,
    pub verbose: bool,
    pub apply: bool,
    pub best: Option<Option<String>>,
}

/// Splits `--json`, `--verbose`/`-v`, `--apply`, `--best [KEY]` off the override list.
pub fn split_trailing_flags(args: &[String]) -> anyhow::Result<(Vec<String>, TrailingFlags)> {
    let mut out = Vec::new();
    let mut flags = TrailingFlags {
        json: false,
        verbose: false,
        apply: false,
        best: None,
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "--json" => flags.json = true,
            "--verbose" | "-v" => flags.verbose = true,
            "--apply" => flags.apply = true,
            "--best" => {
                let next = args
                    .get(i + 1)
                    .filter(|n| !n.starts_with("--") && !n.starts_with("++"));
                flags.best = Some(next.cloned());
                if next.is_some() {
                    i += 1;
                }
            }
            _ if a.starts_with("--best=") => {
                flags.best = Some(Some(a["--best=".len()..].to_string()))
            }
            _ if a.starts_with("++") => {
                let Some(v) = args.get(i + 1) else {
                    anyhow::bail!("override {a} has no value (expected `++key value`)");
                };
                out.push(a.to_string());
                out.push(v.clone());
                i += 1;
            }
            _ => anyhow::bail!(
                "unexpected argument {a:?}: overrides are `++key value` pairs (a value starting with '-' may be written `+-...`)"
            ),
        }
        i += 1;
    }
    Ok((out, flags))
}

/// With `verbose`, lists the config's skipped statements and warnings on stderr.
pub fn print_config_info(loaded: &engine::config::LoadedConfig, verbose: bool) {
    if !verbose {
        return;
    }
    if let Some(path) = &loaded.path {
        eprintln!("config {} ({})", path.display(), loaded.form);
    }
    for s in &loaded.skipped {
        let names = if s.names.is_empty() {
            String::new()
        } else {
            format!("  [sets: {}]", s.names.join(", "))
        };
        eprintln!(
            "  skipped {}:{}: {}{names}",
            s.file.display(),
            s.line,
            s.what
        );
    }
    for w in &loaded.warnings {
        eprintln!("  {w}");
    }
}
