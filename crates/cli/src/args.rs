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

/// The command's own flags, wherever they stand after CONFIG (the trailing list holds
/// everything from the first RETURNN argument on).
#[derive(Default)]
pub struct Trailing {
    /// RETURNN's command line: `++key value` pairs and its options (`--task eval`, ...), in
    /// order, for the config reader.
    pub returnn_args: Vec<String>,
    pub json: bool,
    pub verbose: bool,
    pub apply: bool,
    pub best: Option<Option<String>>,
    pub cwd: Option<PathBuf>,
    pub target: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub fresh: bool,
    pub resume: bool,
    pub force: bool,
    pub quiet: bool,
    pub plot: Option<PathBuf>,
    pub plot_size: Option<String>,
}

/// Our flags a command accepts after CONFIG.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Own {
    Json,
    Verbose,
    Apply,
    Best,
    Cwd,
    Target,
    Out,
    Fresh,
    Resume,
    Force,
    Quiet,
    Plot,
}

/// Splits the command's own flags (`own`) off the arguments after CONFIG; the rest is
/// RETURNN's command line, kept in order (its options are checked by the config reader, as
/// RETURNN's optparse does). RETURNN's `-v LEVEL` is spelled `++log_verbosity LEVEL` here:
/// `-v`/`--verbose` is ours.
pub fn split_trailing(args: &[String], own: &[Own]) -> Result<Trailing, String> {
    let mut t = Trailing::default();
    let has = |o: Own| own.contains(&o);
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let value = |i: usize, name: &str| -> Result<String, String> {
            match a.split_once('=') {
                Some((_, v)) if a.starts_with("--") => Ok(v.to_string()),
                _ => args
                    .get(i + 1)
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value")),
            }
        };
        let takes_next = !a.contains('=');
        let flag = a.split('=').next().unwrap_or(a);
        match flag {
            "--json" if has(Own::Json) => t.json = true,
            "--verbose" | "-v" if has(Own::Verbose) => t.verbose = true,
            "--apply" if has(Own::Apply) => t.apply = true,
            "--fresh" if has(Own::Fresh) => t.fresh = true,
            "--resume" if has(Own::Resume) => t.resume = true,
            "--force" if has(Own::Force) => t.force = true,
            "--quiet" | "-q" if has(Own::Quiet) => t.quiet = true,
            "--best" if has(Own::Best) => {
                if let Some((_, v)) = a.split_once('=') {
                    t.best = Some(Some(v.to_string()));
                } else {
                    let next = args
                        .get(i + 1)
                        .filter(|n| !n.starts_with('-') && !n.starts_with("++"));
                    t.best = Some(next.cloned());
                    if next.is_some() {
                        i += 1;
                    }
                }
            }
            "-C" | "--cwd" if has(Own::Cwd) => {
                t.cwd = Some(value(i, "-C")?.into());
                i += usize::from(takes_next);
            }
            "--target" if has(Own::Target) => {
                t.target = Some(value(i, "--target")?.into());
                i += usize::from(takes_next);
            }
            "--out" if has(Own::Out) => {
                t.out = Some(value(i, "--out")?.into());
                i += usize::from(takes_next);
            }
            "--plot" if has(Own::Plot) => {
                t.plot = Some(value(i, "--plot")?.into());
                i += usize::from(takes_next);
            }
            "--plot-size" if has(Own::Plot) => {
                t.plot_size = Some(value(i, "--plot-size")?);
                i += usize::from(takes_next);
            }
            _ if a.starts_with("++") => {
                let Some(v) = args.get(i + 1) else {
                    return Err(format!(
                        "override {a} has no value (expected `++key value`)"
                    ));
                };
                t.returnn_args.push(a.to_string());
                t.returnn_args.push(v.clone());
                i += 1;
            }
            _ => t.returnn_args.push(a.to_string()),
        }
        i += 1;
    }
    Ok(t)
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

/// A config command's config, loaded as RETURNN reads it, with the flags after CONFIG.
pub struct ConfigCall {
    pub loaded: engine::config::LoadedConfig,
    pub flags: Trailing,
    pub json: bool,
}

/// Splits the trailing arguments (`own` flags vs RETURNN's command line), loads the config in
/// RETURNN's working directory and, with `--verbose`, lists what was not evaluated.
pub fn load_config_call(
    config: &std::path::Path,
    trailing: &[String],
    own: &[Own],
    dir: &WorkDir,
    json: bool,
    verbose: bool,
) -> Result<ConfigCall, crate::out::Fail> {
    let json_anywhere = json || trailing.iter().any(|a| a == "--json");
    let flags = split_trailing(trailing, own).map_err(|m| crate::out::usage(json_anywhere, m))?;
    let dir = WorkDir {
        cwd: flags.cwd.clone().or(dir.cwd.clone()),
    };
    let json = json || flags.json;
    let req = engine::config::ConfigRequest::file(
        dir.command_line_path(config),
        flags.returnn_args.clone(),
        dir.base(),
    );
    let loaded = engine::config::load_for_selection(&req).map_err(crate::out::fail(json))?;
    print_config_info(&loaded, verbose || flags.verbose);
    Ok(ConfigCall {
        loaded,
        flags,
        json,
    })
}
