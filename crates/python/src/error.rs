//! The one Python exception of the package, `returnn_ckpt.Error`, and how library errors become
//! it: the message is the library error's `Display` (file, tensor key, what was expected versus
//! found), `.kind` its stable label (the same string as the JSON `kind`), `.path` and `.key` the
//! file and tensor it concerns, `.hint` what the user probably meant (each `None` when not
//! known), and `.outcome` what the command line tool's exit code would say: `"negative"` (exit
//! 1: RETURNN would raise here, the answer is no) or `"failed"` (exit 2: no answer could be
//! given: unreadable input, bad arguments, I/O, unsupported).

use pyo3::exceptions::PyException;
use pyo3::prelude::*;

pyo3::create_exception!(
    returnn_ckpt,
    Error,
    PyException,
    "An error of returnn_ckpt: a checkpoint that cannot be opened or read, a missing key, a \
     config RETURNN would reject, a bad argument, a missing optional dependency, ... `.kind` is \
     a stable label (the JSON `kind` of the command line tool), `.path` the file concerned, \
     `.key` the tensor or config key, `.hint` what was probably meant (each None when not \
     known), `.outcome` \"negative\" (the tool's exit code 1: RETURNN would raise, the answer \
     is no) or \"failed\" (exit code 2: no answer could be given)."
);

/// What a `returnn_ckpt.Error` carries.
pub struct Fields {
    pub message: String,
    pub kind: &'static str,
    pub path: Option<String>,
    pub key: Option<String>,
    pub hint: Option<String>,
    /// `"negative"` or `"failed"`.
    pub outcome: &'static str,
}

/// Builds a `returnn_ckpt.Error` with its attributes set.
pub fn new_error(py: Python<'_>, f: Fields) -> PyErr {
    let err = Error::new_err(f.message);
    let value = err.value(py);
    // Setting attributes on a fresh exception instance cannot fail short of memory exhaustion;
    // if it does, that Python error is returned instead (never a panic).
    let set = value
        .setattr("kind", f.kind)
        .and_then(|()| value.setattr("path", f.path))
        .and_then(|()| value.setattr("key", f.key))
        .and_then(|()| value.setattr("hint", f.hint))
        .and_then(|()| value.setattr("outcome", f.outcome));
    match set {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// A tf-bundle error (the reader's) as `returnn_ckpt.Error`: the same kind, message, file,
/// key and hint the library layer gives it; reading errors are failures to answer.
pub fn from_bundle(py: Python<'_>, e: &tf_bundle::Error) -> PyErr {
    new_error(
        py,
        Fields {
            message: e.to_string(),
            kind: e.kind().label(),
            path: e.path().map(|p| p.to_string_lossy().into_owned()),
            key: e.key().map(str::to_owned),
            hint: e.hint().map(str::to_owned),
            outcome: "failed",
        },
    )
}

/// A library-layer error as `returnn_ckpt.Error`: exactly the fields of the command line
/// tool's JSON error document (`{"error": {"kind", "message", "path", "key", "hint"}}`), and
/// its exit code as `.outcome`.
pub fn from_engine(py: Python<'_>, e: &engine::Error) -> PyErr {
    new_error(
        py,
        Fields {
            message: e.message().to_owned(),
            kind: e.label(),
            path: e.path().map(|p| p.display().to_string()),
            key: e.key().map(str::to_owned),
            hint: e.hint().map(str::to_owned),
            outcome: outcome_label(e.outcome()),
        },
    )
}

/// A face's own usage error (the CLI's `usage` kind, exit code 2): an argument value the
/// command line tool's parser would refuse.
pub fn usage(py: Python<'_>, message: impl Into<String>) -> PyErr {
    from_engine(
        py,
        &engine::Error::new(engine::ErrorKind::Usage, message.into()),
    )
}

fn outcome_label(o: engine::Outcome) -> &'static str {
    match o {
        engine::Outcome::Negative => "negative",
        engine::Outcome::Failed => "failed",
    }
}

/// Class-level defaults, so that an `Error` raised from Python code has the attributes too.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let ty = py.get_type::<Error>();
    ty.setattr("kind", "error")?;
    ty.setattr("path", py.None())?;
    ty.setattr("key", py.None())?;
    ty.setattr("hint", py.None())?;
    ty.setattr("outcome", "failed")?;
    m.add("Error", ty)
}
