//! Python / torch reprs used in RETURNN's and torch's messages.

pub use crate::loader::{py_str, py_str_list};

/// `torch.Size([2, 3])`.
pub fn torch_size(shape: &[u64]) -> String {
    format!(
        "torch.Size([{}])",
        shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A Python set of str: `set()` or `{'a', 'b'}`. CPython's order depends on string hashing
/// (randomised per process), so the elements are listed sorted here.
pub fn py_str_set<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return "set()".into();
    }
    let mut v: Vec<&str> = items.iter().map(|s| s.as_ref()).collect();
    v.sort_unstable();
    format!(
        "{{{}}}",
        v.iter().map(|s| py_str(s)).collect::<Vec<_>>().join(", ")
    )
}
