//! RETURNN's command line after the config file names (`Config.parse_cmd_args`,
//! `returnn/config.py` 1.20261022): optparse options (`--task eval`, `-x eval`,
//! `--task=eval`, unique prefixes such as `--ta`, `--config FILE`) and `++key value` pairs.
//!
//! Rules mirrored from optparse and RETURNN:
//! * options and `++` pairs may be interleaved; `--` ends the options (all that follows is a
//!   positional argument); an argument starting with `-` (other than `-` alone) is an option,
//!   so a negative `++` value must be written `+-0.1` (RETURNN strips the `+`);
//! * an option taking a value takes the rest of its argument (`-xeval`, `--task=eval`) or
//!   the next argument, whatever it looks like;
//! * an option given twice keeps the last value; options are applied in RETURNN's definition
//!   order (optparse's `vars(options)`), before all `++` pairs, each via `add_line(dest,
//!   value)`, except `--config FILE`, which loads FILE;
//! * unknown or ambiguous options and a missing value are errors (optparse exits with status
//!   2); `-V`/`--version` (RETURNN prints its version and exits) is an error here.

use crate::{Error, ErrorKind};

/// RETURNN's options: (short, long, dest, takes a value), in definition order.
const OPTIONS: &[(char, &str, &str, bool)] = &[
    ('a', "activation", "activation", true),
    ('b', "batch_size", "batch_size", true),
    ('c', "chunking", "chunking", true),
    ('d', "description", "description", true),
    ('e', "epoch", "epoch", true),
    ('E', "eval", "eval", true),
    ('f', "gate_factors", "gate_factors", true),
    ('g', "lreg", "lreg", true),
    ('i', "save_interval", "save_interval", true),
    ('j', "dropout", "dropout", true),
    ('k', "output_file", "output_file", true),
    ('l', "log", "log", true),
    ('L', "load", "load", true),
    ('m', "momentum", "momentum", true),
    ('n', "num_epochs", "num_epochs", true),
    ('o', "order", "order", true),
    ('p', "loss", "loss", true),
    ('q', "cache", "cache", true),
    ('r', "learning_rate", "learning_rate", true),
    ('s', "hidden_sizes", "hidden_sizes", true),
    ('t', "truncate", "truncate", true),
    ('u', "device", "device", true),
    ('v', "verbose", "log_verbosity", true),
    ('V', "version", "version", false),
    ('w', "window", "window", true),
    ('x', "task", "task", true),
    ('y', "hidden_type", "hidden_type", true),
    ('z', "max_sequences", "max_seqs", true),
    ('\0', "config", "load_config", true),
];

/// One step of applying a command line to a config, in RETURNN's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdStep {
    /// `add_line(key, value)`: an option's `dest` (`--task eval` -> `task`) or a `++key value`.
    Set { key: String, value: String },
    /// `--config FILE`: `load_file(FILE)`.
    LoadConfig(String),
}

/// A parsed command line (the arguments after the config file names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandLine {
    pub steps: Vec<CmdStep>,
}

fn err(msg: String) -> Error {
    Error::new(ErrorKind::Override, msg)
}

fn find_long(name: &str) -> Result<usize, Error> {
    if let Some(i) = OPTIONS.iter().position(|o| o.1 == name) {
        return Ok(i);
    }
    let mut hits: Vec<usize> = (0..OPTIONS.len())
        .filter(|&i| OPTIONS[i].1.starts_with(name))
        .collect();
    hits.sort_by_key(|&i| OPTIONS[i].1);
    match hits.as_slice() {
        [i] => Ok(*i),
        [] => Err(err(format!("no such option: --{name}"))),
        many => Err(err(format!(
            "ambiguous option: --{name} ({}?)",
            many.iter()
                .map(|&i| format!("--{}", OPTIONS[i].1))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

impl CommandLine {
    /// Parses RETURNN's command-line arguments (after the config files).
    pub fn parse(args: &[String]) -> Result<CommandLine, Error> {
        let mut values: Vec<Option<String>> = vec![None; OPTIONS.len()];
        let mut positional: Vec<&str> = Vec::new();
        let mut i = 0;
        let version = |values: &[Option<String>]| -> Result<(), Error> {
            let v = OPTIONS.iter().position(|o| o.2 == "version");
            if v.is_some_and(|v| values[v].is_some()) {
                return Err(err(
                    "-V/--version: RETURNN prints its version and exits; there is no config to read"
                        .into(),
                ));
            }
            Ok(())
        };
        while i < args.len() {
            let a = args[i].as_str();
            i += 1;
            if a == "--" {
                positional.extend(args[i..].iter().map(String::as_str));
                break;
            }
            if let Some(long) = a.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (long, None),
                };
                let o = find_long(name)?;
                let (_, lname, _, takes) = OPTIONS[o];
                if !takes {
                    if inline.is_some() {
                        return Err(err(format!("--{lname} option does not take a value")));
                    }
                    values[o] = Some(String::new());
                    continue;
                }
                let v = match inline {
                    Some(v) => v.to_string(),
                    None => {
                        let Some(v) = args.get(i) else {
                            return Err(err(format!("--{lname} option requires 1 argument")));
                        };
                        i += 1;
                        v.clone()
                    }
                };
                values[o] = Some(v);
                continue;
            }
            if a.len() > 1 && a.starts_with('-') {
                let chars: Vec<char> = a[1..].chars().collect();
                let mut j = 0;
                while j < chars.len() {
                    let c = chars[j];
                    j += 1;
                    let Some(o) = OPTIONS.iter().position(|x| x.0 == c && c != '\0') else {
                        return Err(err(format!("no such option: -{c}")));
                    };
                    if !OPTIONS[o].3 {
                        values[o] = Some(String::new());
                        continue;
                    }
                    let rest: String = chars[j..].iter().collect();
                    let v = if !rest.is_empty() {
                        rest
                    } else {
                        let Some(v) = args.get(i) else {
                            return Err(err(format!("-{c} option requires 1 argument")));
                        };
                        i += 1;
                        v.clone()
                    };
                    values[o] = Some(v);
                    break;
                }
                continue;
            }
            positional.push(a);
        }
        version(&values)?;
        let mut steps = Vec::new();
        for (o, v) in values.into_iter().enumerate() {
            let Some(v) = v else { continue };
            let dest = OPTIONS[o].2;
            steps.push(if dest == "load_config" {
                CmdStep::LoadConfig(v)
            } else {
                CmdStep::Set {
                    key: dest.to_string(),
                    value: v,
                }
            });
        }
        if positional.len() % 2 != 0 {
            return Err(err(format!(
                "expected (++key, value) pairs in the config arguments, got an odd number: {positional:?}"
            )));
        }
        for pair in positional.chunks(2) {
            let (key, value) = (pair[0], pair[1]);
            let Some(k) = key.strip_prefix("++") else {
                return Err(err(format!(
                    "expected a key prefixed with '++' in ({key:?}, {value:?})"
                )));
            };
            let v = if value.starts_with("+-") {
                &value[1..]
            } else {
                value
            };
            steps.push(CmdStep::Set {
                key: k.to_string(),
                value: v.to_string(),
            });
        }
        Ok(CommandLine { steps })
    }

    /// RETURNN's `init_config` split of `sys.argv[1:]`: the leading arguments up to the first
    /// one starting with `-` or `+` are config files; the rest is the command line.
    pub fn split_config_files(argv: &[String]) -> (&[String], &[String]) {
        let n = argv
            .iter()
            .position(|a| a.starts_with('-') || a.starts_with('+'))
            .unwrap_or(argv.len());
        argv.split_at(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Vec<CmdStep>, String> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        CommandLine::parse(&v)
            .map(|c| c.steps)
            .map_err(|e| e.message().to_string())
    }

    fn set(k: &str, v: &str) -> CmdStep {
        CmdStep::Set {
            key: k.into(),
            value: v.into(),
        }
    }

    /// optparse's rules, one row each (checked against Python's optparse with RETURNN's
    /// parser definition).
    #[test]
    fn optparse_rules() {
        let ok: &[(&[&str], Vec<CmdStep>)] = &[
            (&["--task", "eval"], vec![set("task", "eval")]),
            (&["--task=eval"], vec![set("task", "eval")]),
            (&["-x", "eval"], vec![set("task", "eval")]),
            (&["-xeval"], vec![set("task", "eval")]),
            (&["--ta", "eval"], vec![set("task", "eval")]),
            (&["--task", "-1"], vec![set("task", "-1")]),
            (&["--task", "a", "--task", "b"], vec![set("task", "b")]),
            // definition order, options before ++ pairs
            (
                &["++x", "1", "--task", "eval", "--epoch", "3"],
                vec![set("epoch", "3"), set("task", "eval"), set("x", "1")],
            ),
            (&["--max_sequences", "4"], vec![set("max_seqs", "4")]),
            (&["-v", "5"], vec![set("log_verbosity", "5")]),
            (
                &["--config", "b.config"],
                vec![CmdStep::LoadConfig("b.config".into())],
            ),
            (&["++lr", "+-0.1"], vec![set("lr", "-0.1")]),
            (&["--", "++a", "-1"], vec![set("a", "-1")]),
            (&["--task="], vec![set("task", "")]),
        ];
        for (args, want) in ok {
            assert_eq!(parse(args).as_ref(), Ok(want), "{args:?}");
        }
        let bad: &[(&[&str], &str)] = &[
            (&["--foo", "1"], "no such option: --foo"),
            (&["--t", "1"], "ambiguous option: --t (--task, --truncate?)"),
            (&["--lo", "1"], "ambiguous option: --lo"),
            (&["-Q"], "no such option: -Q"),
            (&["++lr", "-0.1"], "no such option: -0"),
            (&["--task"], "--task option requires 1 argument"),
            (&["--version"], "--version"),
            (&["-V"], "--version"),
            (&["--version=1"], "does not take a value"),
            (&["++a"], "odd number"),
            (&["a", "b"], "prefixed with '++'"),
        ];
        for (args, want) in bad {
            let e = parse(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn split_config_files() {
        let v: Vec<String> = ["a.config", "b.py", "++x", "1", "c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (files, rest) = CommandLine::split_config_files(&v);
        assert_eq!(files, &v[..2]);
        assert_eq!(rest, &v[2..]);
    }
}
