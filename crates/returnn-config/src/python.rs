//! Python config files: parse the module with `rustpython-parser`, evaluate literal top-level
//! assignments, record everything else as skipped. Nothing is executed.

use rustpython_parser::ast::{self, Constant, Expr, Ranged, Stmt};
use rustpython_parser::Parse;

use crate::value::Value;

/// A statement of a Python config that was not evaluated (it is not a literal assignment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line in the config file.
    pub line: usize,
    /// What it was, e.g. `import os`, `def get_network`, `x = <non-literal>`.
    pub what: String,
    /// Names this statement (may) bind; their value is `Value::Unsupported`.
    pub names: Vec<String>,
}

/// Result of evaluating a Python config module.
#[derive(Debug, Default)]
pub struct Module {
    /// Global name -> value, in order of first assignment.
    pub globals: Vec<(String, Value)>,
    pub skipped: Vec<Skipped>,
}

impl Module {
    fn set(&mut self, name: &str, value: Value) {
        if let Some(slot) = self.globals.iter_mut().find(|(k, _)| k == name) {
            slot.1 = value;
        } else {
            self.globals.push((name.to_string(), value));
        }
    }
    fn lookup(&self, name: &str) -> Option<&Value> {
        self.globals.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A Python syntax error, with its 1-based line (in the text as given) and the parser message.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// What a Python config sees of the `Config` it is executed in (RETURNN runs it with the
/// config's `typed_dict` as globals and `config` bound to the config object).
pub trait ExecEnv {
    /// A global that was defined before this file ran (a typed value of the config).
    fn global(&self, name: &str) -> Option<Value>;
    /// `config.<method>(*args, **kwargs)` with literal arguments; `typed` looks a key up in
    /// the config's `typed_dict` as it is at that point of the file.
    fn config_call(
        &self,
        method: &str,
        args: &[Value],
        kwargs: &[(String, Value)],
        typed: &dyn Fn(&str) -> Option<Value>,
    ) -> Value;
}

/// An empty config: no globals, and every `config.<method>(...)` call is unsupported.
pub struct NoEnv;

impl ExecEnv for NoEnv {
    fn global(&self, _name: &str) -> Option<Value> {
        None
    }
    fn config_call(
        &self,
        method: &str,
        _args: &[Value],
        _kwargs: &[(String, Value)],
        _typed: &dyn Fn(&str) -> Option<Value>,
    ) -> Value {
        Value::Unsupported(format!("config.{method}(...)"))
    }
}

/// Parses and evaluates `text` (already stripped the way RETURNN strips it);
/// `line_offset` is added to every reported line (lines removed by that strip).
pub fn eval_module(
    text: &str,
    source_path: &str,
    line_offset: usize,
) -> Result<Module, SyntaxError> {
    eval_module_in(text, source_path, line_offset, &NoEnv)
}

/// [`eval_module`] inside a config: names fall back to `env`'s globals, and calls of the
/// config's own API (`config.value("task", "train")`, `config.int(...)`, ...) with literal
/// arguments are evaluated against the config as it is at that statement, as RETURNN's
/// `exec` of the file does. A file that rebinds `config` gets no such evaluation.
pub fn eval_module_in(
    text: &str,
    source_path: &str,
    line_offset: usize,
    env: &(dyn ExecEnv + Sync),
) -> Result<Module, SyntaxError> {
    with_parser_stack(|| eval_module_inner(text, source_path, line_offset, env)).unwrap_or_else(
        || {
            Err(SyntaxError {
                line: 0,
                message: "internal error while parsing".into(),
            })
        },
    )
}

fn eval_module_inner(
    text: &str,
    source_path: &str,
    line_offset: usize,
    env: &(dyn ExecEnv + Sync),
) -> Result<Module, SyntaxError> {
    check_nesting(text, rustpython_parser::Mode::Module).map_err(|e| SyntaxError {
        line: e.line + line_offset,
        message: e.message,
    })?;
    let suite = ast::Suite::parse(text, source_path).map_err(|e| SyntaxError {
        line: line_of(text, usize::from(e.offset)) + line_offset,
        message: e.error.to_string(),
    })?;
    let mut module = Module::default();
    for stmt in &suite {
        let line = line_of(text, usize::from(stmt.start())) + line_offset;
        let snippet = first_line(&text[usize::from(stmt.start())..usize::from(stmt.end())]);
        exec_stmt(&mut module, stmt, line, &snippet, env);
    }
    Ok(module)
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or("");
    let mut out: String = l.chars().take(80).collect();
    if l.chars().count() > 80 || s.lines().nth(1).is_some() {
        out.push_str(" ...");
    }
    out
}

fn exec_stmt(m: &mut Module, stmt: &Stmt, line: usize, snippet: &str, env: &dyn ExecEnv) {
    match stmt {
        Stmt::Assign(a) => {
            let value = eval_module_expr(m, &a.value, env);
            let mut names = Vec::new();
            let mut ok = true;
            for target in &a.targets {
                if !assign(m, target, &value, &mut names) {
                    ok = false;
                }
            }
            if !ok || value.contains_unsupported() {
                m.skipped.push(Skipped {
                    line,
                    what: snippet.to_string(),
                    names,
                });
            }
        }
        Stmt::AnnAssign(a) => {
            if let Some(v) = &a.value {
                let value = eval_module_expr(m, v, env);
                let mut names = Vec::new();
                let ok = assign(m, &a.target, &value, &mut names);
                if !ok || value.contains_unsupported() {
                    m.skipped.push(Skipped {
                        line,
                        what: snippet.to_string(),
                        names,
                    });
                }
            }
        }
        other => {
            let mut names = Vec::new();
            bound_names(other, &mut names);
            for n in &names {
                m.set(n, Value::Unsupported(snippet.to_string()));
            }
            m.skipped.push(Skipped {
                line,
                what: snippet.to_string(),
                names,
            });
        }
    }
}

/// Binds `value` to `target`; returns false if the target is not a plain name (or a tuple of
/// names unpacking a literal sequence of the same length). Names that are bound are pushed.
fn assign(m: &mut Module, target: &Expr, value: &Value, names: &mut Vec<String>) -> bool {
    match target {
        Expr::Name(n) => {
            m.set(n.id.as_str(), value.clone());
            names.push(n.id.to_string());
            true
        }
        Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }) => {
            let items = match value {
                Value::Tuple(v) | Value::List(v) if v.len() == elts.len() => Some(v.clone()),
                _ => None,
            };
            let mut ok = true;
            for (i, e) in elts.iter().enumerate() {
                let v = match &items {
                    Some(v) => v[i].clone(),
                    None => Value::Unsupported("unpacking of a non-literal".into()),
                };
                if !assign(m, e, &v, names) {
                    ok = false;
                }
            }
            ok && items.is_some()
        }
        // Attribute / subscript targets (`x.y = ...`, `d["k"] = ...`) modify an object:
        // the object's value becomes unknown.
        Expr::Attribute(ast::ExprAttribute { value: obj, .. })
        | Expr::Subscript(ast::ExprSubscript { value: obj, .. }) => {
            if let Some(root) = root_name(obj) {
                m.set(
                    &root,
                    Value::Unsupported("modified by a later statement".into()),
                );
                names.push(root);
            }
            false
        }
        _ => false,
    }
}

fn root_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Name(n) => Some(n.id.to_string()),
        Expr::Attribute(a) => root_name(&a.value),
        Expr::Subscript(s) => root_name(&s.value),
        _ => None,
    }
}

/// Names a non-assignment top-level statement binds (imports, defs, classes, names assigned
/// anywhere inside compound statements).
fn bound_names(stmt: &Stmt, out: &mut Vec<String>) {
    match stmt {
        Stmt::Import(i) => {
            for a in &i.names {
                let n = match &a.asname {
                    Some(asname) => asname.to_string(),
                    None => a.name.as_str().split('.').next().unwrap_or("").to_string(),
                };
                out.push(n);
            }
        }
        Stmt::ImportFrom(i) => {
            for a in &i.names {
                if a.name.as_str() == "*" {
                    continue;
                }
                out.push(a.asname.as_ref().unwrap_or(&a.name).to_string());
            }
        }
        Stmt::FunctionDef(f) => out.push(f.name.to_string()),
        Stmt::AsyncFunctionDef(f) => out.push(f.name.to_string()),
        Stmt::ClassDef(c) => out.push(c.name.to_string()),
        Stmt::Assign(a) => {
            for t in &a.targets {
                target_names(t, out);
            }
        }
        Stmt::AnnAssign(a) => target_names(&a.target, out),
        Stmt::AugAssign(a) => target_names(&a.target, out),
        Stmt::Delete(d) => {
            for t in &d.targets {
                target_names(t, out);
            }
        }
        Stmt::For(f) => {
            target_names(&f.target, out);
            body_names(&f.body, out);
            body_names(&f.orelse, out);
        }
        Stmt::AsyncFor(f) => {
            target_names(&f.target, out);
            body_names(&f.body, out);
            body_names(&f.orelse, out);
        }
        Stmt::While(w) => {
            body_names(&w.body, out);
            body_names(&w.orelse, out);
        }
        Stmt::If(i) => {
            body_names(&i.body, out);
            body_names(&i.orelse, out);
        }
        Stmt::With(w) => {
            for item in &w.items {
                if let Some(v) = &item.optional_vars {
                    target_names(v, out);
                }
            }
            body_names(&w.body, out);
        }
        Stmt::AsyncWith(w) => {
            for item in &w.items {
                if let Some(v) = &item.optional_vars {
                    target_names(v, out);
                }
            }
            body_names(&w.body, out);
        }
        Stmt::Try(t) => {
            body_names(&t.body, out);
            for h in &t.handlers {
                let ast::ExceptHandler::ExceptHandler(h) = h;
                if let Some(n) = &h.name {
                    out.push(n.to_string());
                }
                body_names(&h.body, out);
            }
            body_names(&t.orelse, out);
            body_names(&t.finalbody, out);
        }
        Stmt::TryStar(t) => {
            body_names(&t.body, out);
            body_names(&t.orelse, out);
            body_names(&t.finalbody, out);
        }
        Stmt::Match(mm) => {
            for case in &mm.cases {
                body_names(&case.body, out);
            }
        }
        _ => {}
    }
    out.sort();
    out.dedup();
}

fn body_names(body: &[Stmt], out: &mut Vec<String>) {
    for s in body {
        bound_names(s, out);
    }
}

fn target_names(t: &Expr, out: &mut Vec<String>) {
    match t {
        Expr::Name(n) => out.push(n.id.to_string()),
        Expr::Tuple(tu) => tu.elts.iter().for_each(|e| target_names(e, out)),
        Expr::List(l) => l.elts.iter().for_each(|e| target_names(e, out)),
        Expr::Starred(s) => target_names(&s.value, out),
        Expr::Attribute(_) | Expr::Subscript(_) => {
            if let Some(r) = root_name(t) {
                out.push(r);
            }
        }
        _ => {}
    }
}

/// Evaluates a literal expression. Names refer to earlier top-level literals (and `True`,
/// `False`, `None` are constants already). Anything else is `Unsupported`.
pub fn eval_expr(m: &Module, e: &Expr) -> Value {
    eval_in(e, &|name| m.lookup(name).cloned())
}

/// Evaluates an expression of a config file at module level: names are the module's globals,
/// then `env`'s; `config.<method>(...)` goes to `env` unless the module rebound `config`.
fn eval_module_expr(m: &Module, e: &Expr, env: &dyn ExecEnv) -> Value {
    let typed = |name: &str| m.lookup(name).cloned().or_else(|| env.global(name));
    let calls = |c: &ast::ExprCall, ev: &dyn Fn(&Expr) -> Value| -> Option<Value> {
        let Expr::Attribute(attr) = &*c.func else {
            return None;
        };
        let Expr::Name(obj) = &*attr.value else {
            return None;
        };
        if obj.id.as_str() != "config" || m.lookup("config").is_some() {
            return None;
        }
        let mut args = Vec::new();
        for a in &c.args {
            if matches!(a, Expr::Starred(_)) {
                return Some(Value::Unsupported("config call with *args".into()));
            }
            args.push(ev(a));
        }
        let mut kwargs = Vec::new();
        for k in &c.keywords {
            let Some(name) = &k.arg else {
                return Some(Value::Unsupported("config call with **kwargs".into()));
            };
            kwargs.push((name.to_string(), ev(&k.value)));
        }
        if args
            .iter()
            .chain(kwargs.iter().map(|(_, v)| v))
            .any(Value::contains_unsupported)
        {
            return Some(Value::Unsupported(format!(
                "config.{}(...) with a non-literal argument",
                attr.attr.as_str()
            )));
        }
        Some(env.config_call(attr.attr.as_str(), &args, &kwargs, &typed))
    };
    eval_with(e, &typed, &calls)
}

/// A hook for call expressions: gets the call and an evaluator for its arguments; `None`
/// leaves the call unsupported.
type CallHook<'a> = dyn Fn(&ast::ExprCall, &dyn Fn(&Expr) -> Value) -> Option<Value> + 'a;

/// Evaluates `e` with a name resolver; unknown names give `Unsupported("name 'x'")`.
pub fn eval_in(e: &Expr, names: &dyn Fn(&str) -> Option<Value>) -> Value {
    eval_with(e, names, &|_, _| None)
}

fn eval_with(e: &Expr, names: &dyn Fn(&str) -> Option<Value>, calls: &CallHook<'_>) -> Value {
    let eval_in = |x: &Expr, names: &dyn Fn(&str) -> Option<Value>| eval_with(x, names, calls);
    match e {
        Expr::Constant(c) => constant(&c.value),
        Expr::Name(n) => names(n.id.as_str())
            .unwrap_or_else(|| Value::Unsupported(format!("name '{}'", n.id.as_str()))),
        Expr::UnaryOp(u) => {
            let v = eval_in(&u.operand, names);
            match (u.op, v) {
                (ast::UnaryOp::USub, Value::Int(i)) => match i.checked_neg() {
                    Some(n) => Value::Int(n),
                    None => Value::Unsupported("integer out of range".into()),
                },
                (ast::UnaryOp::USub, Value::Bool(b)) => Value::Int(-i64::from(b)),
                (ast::UnaryOp::USub, Value::Float(f)) => Value::Float(-f),
                (ast::UnaryOp::UAdd, Value::Int(i)) => Value::Int(i),
                (ast::UnaryOp::UAdd, Value::Bool(b)) => Value::Int(i64::from(b)),
                (ast::UnaryOp::UAdd, Value::Float(f)) => Value::Float(f),
                (ast::UnaryOp::Not, v) => match v.truthy() {
                    Some(t) => Value::Bool(!t),
                    None => Value::Unsupported("not <non-literal>".into()),
                },
                _ => Value::Unsupported("unary operator on a non-number".into()),
            }
        }
        Expr::List(l) => Value::List(l.elts.iter().map(|x| eval_in(x, names)).collect()),
        Expr::Tuple(t) => Value::Tuple(t.elts.iter().map(|x| eval_in(x, names)).collect()),
        Expr::Set(s) => {
            let mut items: Vec<Value> = Vec::new();
            for x in &s.elts {
                let v = eval_in(x, names);
                if !items.iter().any(|y| crate::value::py_eq(y, &v)) {
                    items.push(v);
                }
            }
            Value::Set(items)
        }
        Expr::Dict(d) => {
            let mut items: Vec<(Value, Value)> = Vec::new();
            for (k, v) in d.keys.iter().zip(d.values.iter()) {
                let val = eval_in(v, names);
                match k {
                    Some(k) => {
                        let key = eval_in(k, names);
                        if let Some(slot) =
                            items.iter_mut().find(|(x, _)| crate::value::py_eq(x, &key))
                        {
                            slot.1 = val;
                        } else {
                            items.push((key, val));
                        }
                    }
                    None => match val {
                        // `**other_dict` spread of a literal dict
                        Value::Dict(other) => {
                            for (key, val) in other {
                                if let Some(slot) =
                                    items.iter_mut().find(|(x, _)| crate::value::py_eq(x, &key))
                                {
                                    slot.1 = val;
                                } else {
                                    items.push((key, val));
                                }
                            }
                        }
                        _ => return Value::Unsupported("dict ** spread of a non-literal".into()),
                    },
                }
            }
            Value::Dict(items)
        }
        Expr::JoinedStr(_) => Value::Unsupported("f-string".into()),
        Expr::Call(c) => {
            calls(c, &|x| eval_in(x, names)).unwrap_or_else(|| Value::Unsupported("call".into()))
        }
        Expr::Lambda(_) => Value::Unsupported("lambda".into()),
        _ => Value::Unsupported("computed expression".into()),
    }
}

fn constant(c: &Constant) -> Value {
    match c {
        Constant::None => Value::None,
        Constant::Bool(b) => Value::Bool(*b),
        Constant::Str(s) => Value::Str(s.clone()),
        Constant::Int(i) => match i.to_string().parse::<i64>() {
            Ok(v) => Value::Int(v),
            Err(_) => Value::Unsupported(format!("integer {i} out of the 64-bit range")),
        },
        Constant::Float(f) => Value::Float(*f),
        Constant::Tuple(items) => Value::Tuple(items.iter().map(constant).collect()),
        Constant::Bytes(_) => Value::Unsupported("bytes literal".into()),
        Constant::Complex { .. } => Value::Unsupported("complex literal".into()),
        Constant::Ellipsis => Value::Unsupported("Ellipsis".into()),
    }
}

/// Parses a single Python expression (for `++key value` evaluation, as RETURNN's `eval`).
/// The expression must be small enough for the caller's stack: `check_nesting` is applied.
pub fn parse_expression(text: &str) -> Result<Expr, SyntaxError> {
    check_nesting(text, rustpython_parser::Mode::Expression)?;
    Expr::parse(text, "<string>").map_err(|e| SyntaxError {
        line: line_of(text, usize::from(e.offset)),
        message: e.error.to_string(),
    })
}

/// Nesting limits checked before parsing, so that hostile input cannot exhaust the stack of
/// the recursive parser and evaluator. Brackets and indentation use CPython's own limits
/// (both are a `SyntaxError` there); the operator chain limit is ours.
const MAX_BRACKET_DEPTH: usize = 200;
const MAX_INDENT_DEPTH: usize = 100;
const MAX_OPERATOR_CHAIN: usize = 2000;

/// Checks bracket depth, indentation depth and the length of operator chains (tokens that
/// make the syntax tree deeper without a `,`/`:`/`=`/newline in between) with the
/// non-recursive lexer. Lexical errors are left to the parser.
pub fn check_nesting(text: &str, mode: rustpython_parser::Mode) -> Result<(), SyntaxError> {
    use rustpython_parser::Tok;
    let mut brackets = 0usize;
    let mut indent = 0usize;
    let mut chain = 0usize;
    for item in rustpython_parser::lexer::lex(text, mode) {
        let Ok((tok, range)) = item else {
            return Ok(());
        };
        let err = |message: &str| SyntaxError {
            line: line_of(text, usize::from(range.start())),
            message: message.to_string(),
        };
        match tok {
            Tok::Lpar | Tok::Lsqb | Tok::Lbrace => {
                brackets += 1;
                chain += 1;
                if brackets > MAX_BRACKET_DEPTH {
                    return Err(err("too many nested parentheses"));
                }
            }
            Tok::Rpar | Tok::Rsqb | Tok::Rbrace => brackets = brackets.saturating_sub(1),
            Tok::Indent => {
                indent += 1;
                if indent > MAX_INDENT_DEPTH {
                    return Err(err("too many levels of indentation"));
                }
            }
            Tok::Dedent => indent = indent.saturating_sub(1),
            Tok::Comma | Tok::Colon | Tok::Semi | Tok::Equal | Tok::Newline => chain = 0,
            Tok::Name { .. }
            | Tok::Int { .. }
            | Tok::Float { .. }
            | Tok::Complex { .. }
            | Tok::String { .. }
            | Tok::True
            | Tok::False
            | Tok::None => {}
            _ => {
                chain += 1;
                if chain > MAX_OPERATOR_CHAIN {
                    return Err(err(
                        "expression nested too deeply (more than 2000 chained operators); not supported",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Runs `f` on a thread with a large stack (the parser and the evaluators recurse over the
/// syntax tree; [`check_nesting`] bounds the depth, this gives the bounded depth room in
/// every caller, including test threads with small stacks). Runs `f` on the current thread
/// if no thread can be spawned; `None` only if `f` panicked (it does not on any input).
pub fn with_parser_stack<T: Send>(f: impl FnOnce() -> T + Send) -> Option<T> {
    let mut f = Some(f);
    let spawned: Option<Option<T>> = std::thread::scope(|s| {
        let job = &mut f;
        let handle = std::thread::Builder::new()
            .name("python-parse".into())
            .stack_size(64 << 20)
            .spawn_scoped(s, move || job.take().map(|g| g()));
        match handle {
            Ok(h) => Some(h.join().ok().flatten()),
            Err(_) => None,
        }
    });
    match spawned {
        Some(result) => result,
        None => f.take().map(|g| g()),
    }
}

/// Parses and evaluates one Python expression as RETURNN's `eval` of a `++` value would, for
/// literals only: `Ok((value, Some(name)))` if it names an undefined `name` (a `NameError` in
/// Python); a syntax error is `Err`. Runs on a large stack.
pub fn eval_literal_text(text: &str) -> Result<(Value, Option<String>), SyntaxError> {
    with_parser_stack(|| {
        let expr = parse_expression(text)?;
        let missing: std::cell::RefCell<Option<String>> = std::cell::RefCell::new(None);
        let v = eval_in(&expr, &|name| {
            if let Some(v) = builtin_value(name) {
                return Some(v);
            }
            if !EVAL_KNOWN_NAMES.contains(&name) {
                missing.borrow_mut().get_or_insert_with(|| name.to_string());
            }
            None
        });
        let mut missing = missing.into_inner();
        if missing.is_none() && v.contains_unsupported() {
            // A computed expression (`a-b/c`, `x.y`, `f(1)`): Python evaluates its names first,
            // so an undefined one is a NameError before anything else.
            missing = first_undefined_name(&expr).unwrap_or(None);
        }
        Ok((v, missing))
    })
    .unwrap_or_else(|| {
        Err(SyntaxError {
            line: 0,
            message: "internal error while parsing".into(),
        })
    })
}

/// Names `eval` finds when RETURNN's `Config.add_line` evaluates a `++` value: Python's
/// builtins, the globals of `returnn/config.py` (1.20261022) and `add_line`'s locals.
const EVAL_KNOWN_NAMES: &[&str] = &[
    // add_line's locals
    "self",
    "key",
    "value",
    "value_type",
    // returnn.config module globals
    "Any",
    "Config",
    "Dict",
    "List",
    "Optional",
    "Sequence",
    "SubProcCopyGlobalConfigPreInitFunc",
    "T",
    "Tuple",
    "Type",
    "TypeVar",
    "Union",
    "annotations",
    "builtins",
    "contextlib",
    "get_global_config",
    "global_config_ctx",
    "network_json_from_config",
    "os",
    "set_global_config",
    "sys",
    "tf_should_use_gpu",
    "time",
    // builtins
    "abs",
    "all",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
    "Ellipsis",
    "NotImplemented",
    "Exception",
    "ValueError",
    "KeyError",
    "TypeError",
    "__import__",
    "__name__",
    "__doc__",
    "__file__",
    "__builtins__",
];

/// The first name, in Python's evaluation order, that `eval` would not find (`Ok(Some)`);
/// `Ok(None)` if every name is known; `Err(())` (mapped to `None` by the caller) where the
/// order depends on values (`and`/`or`, `x if c else y`, lambdas, comprehensions).
fn first_undefined_name(e: &Expr) -> Result<Option<String>, ()> {
    let all = |xs: &mut dyn Iterator<Item = &Expr>| -> Result<Option<String>, ()> {
        for x in xs {
            if let Some(n) = first_undefined_name(x)? {
                return Ok(Some(n));
            }
        }
        Ok(None)
    };
    match e {
        Expr::Constant(_) => Ok(None),
        Expr::Name(n) => {
            let id = n.id.as_str();
            Ok((!EVAL_KNOWN_NAMES.contains(&id)).then(|| id.to_string()))
        }
        Expr::UnaryOp(u) => first_undefined_name(&u.operand),
        Expr::BinOp(b) => all(&mut [&*b.left, &*b.right].into_iter()),
        Expr::Attribute(a) => first_undefined_name(&a.value),
        Expr::Subscript(s) => all(&mut [&*s.value, &*s.slice].into_iter()),
        Expr::Slice(s) => all(&mut [&s.lower, &s.upper, &s.step]
            .into_iter()
            .filter_map(|x| x.as_deref())),
        Expr::Compare(c) => all(&mut std::iter::once(&*c.left).chain(c.comparators.iter())),
        Expr::Call(c) => all(&mut std::iter::once(&*c.func)
            .chain(c.args.iter())
            .chain(c.keywords.iter().map(|k| &k.value))),
        Expr::Starred(s) => first_undefined_name(&s.value),
        Expr::List(l) => all(&mut l.elts.iter()),
        Expr::Tuple(t) => all(&mut t.elts.iter()),
        Expr::Set(t) => all(&mut t.elts.iter()),
        Expr::Dict(d) => {
            for (k, v) in d.keys.iter().zip(d.values.iter()) {
                if let Some(k) = k {
                    if let Some(n) = first_undefined_name(k)? {
                        return Ok(Some(n));
                    }
                }
                if let Some(n) = first_undefined_name(v)? {
                    return Ok(Some(n));
                }
            }
            Ok(None)
        }
        _ => Err(()),
    }
}

/// A builtin function or class named in a `++` value, as the string RETURNN's `config.value`
/// makes of it (`str(eval)` is `<built-in function eval>`, `str(int)` is `<class 'int'>`).
/// Reading such a value as an int fails as in RETURNN (it is not an int). Only names that are
/// builtins and not shadowed by `returnn/config.py`'s globals or `add_line`'s locals.
fn builtin_value(name: &str) -> Option<Value> {
    const FUNCS: &[&str] = &[
        "abs",
        "all",
        "any",
        "ascii",
        "bin",
        "callable",
        "chr",
        "compile",
        "delattr",
        "dir",
        "divmod",
        "eval",
        "exec",
        "format",
        "getattr",
        "globals",
        "hasattr",
        "hash",
        "hex",
        "id",
        "input",
        "isinstance",
        "issubclass",
        "iter",
        "len",
        "locals",
        "max",
        "min",
        "next",
        "oct",
        "open",
        "ord",
        "pow",
        "print",
        "repr",
        "round",
        "setattr",
        "sorted",
        "sum",
        "vars",
        "__import__",
    ];
    const CLASSES: &[&str] = &[
        "bool",
        "bytearray",
        "bytes",
        "classmethod",
        "complex",
        "dict",
        "enumerate",
        "filter",
        "float",
        "frozenset",
        "int",
        "list",
        "map",
        "memoryview",
        "object",
        "property",
        "range",
        "reversed",
        "set",
        "slice",
        "staticmethod",
        "str",
        "super",
        "tuple",
        "type",
        "zip",
        "Exception",
        "ValueError",
        "KeyError",
        "TypeError",
    ];
    if FUNCS.contains(&name) {
        Some(Value::Str(format!("<built-in function {name}>")))
    } else if CLASSES.contains(&name) {
        Some(Value::Str(format!("<class '{name}'>")))
    } else {
        None
    }
}
