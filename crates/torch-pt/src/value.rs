//! The value tree `data.pkl` describes (docs/pt-format.md §4), and paths into it.

use std::fmt;

use crate::dtype::DType;

/// Which Python mapping type a [`Dict`] was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DictKind {
    /// A plain `dict` (`EMPTY_DICT`).
    Dict,
    /// `collections.OrderedDict` (what `state_dict()` returns).
    OrderedDict,
    /// `collections.Counter`.
    Counter,
}

/// A Python mapping: items in insertion order (a repeated key keeps its first position and its
/// last value, as in Python), plus the attributes a `BUILD` set on it (a state dict's
/// `_metadata`).
#[derive(Clone, Debug, PartialEq)]
pub struct Dict {
    pub kind: DictKind,
    pub items: Vec<(Value, Value)>,
    /// Instance attributes (`__dict__`) set by `BUILD`, in order; empty for most dicts.
    pub attrs: Vec<(Value, Value)>,
}

impl Dict {
    /// An empty mapping of `kind`.
    pub fn new(kind: DictKind) -> Dict {
        Dict {
            kind,
            items: Vec::new(),
            attrs: Vec::new(),
        }
    }

    /// The value of the string key `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.items
            .iter()
            .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
            .map(|(_, v)| v)
    }

    /// Appends `key: value` (the caller keeps keys distinct).
    pub fn push(&mut self, key: impl Into<Value>, value: impl Into<Value>) {
        self.items.push((key.into(), value.into()));
    }
}

/// Where a tensor's bytes live: a storage record `data/<key>` of the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageRef {
    /// The record key (`data/<key>`).
    pub key: String,
    /// The element type the storage was saved with (a tensor's dtype is its storage's).
    pub dtype: DType,
    /// Number of elements of `dtype` the storage holds (the record has `numel * size` bytes).
    pub numel: u64,
    /// The device the tensor was saved from (`cpu`, `cuda:0`, ...); the bytes do not depend on it.
    pub location: String,
}

/// A tensor of the value tree: a strided view into a storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub dtype: DType,
    /// Sizes per dimension (`[]` = a scalar).
    pub shape: Vec<u64>,
    /// Strides in elements per dimension (same length as `shape`).
    pub stride: Vec<u64>,
    /// Offset of the first element in the storage, in elements.
    pub storage_offset: u64,
    pub storage: StorageRef,
    /// `requires_grad` as saved.
    pub requires_grad: bool,
    /// Saved as a `torch.nn.Parameter` (`_rebuild_parameter`).
    pub parameter: bool,
}

impl TensorInfo {
    /// A contiguous tensor of `shape` covering a whole storage from offset 0.
    pub fn contiguous(storage: StorageRef, shape: Vec<u64>) -> TensorInfo {
        let stride = contiguous_strides(&shape);
        TensorInfo {
            dtype: storage.dtype,
            shape,
            stride,
            storage_offset: 0,
            storage,
            requires_grad: false,
            parameter: false,
        }
    }

    /// Number of elements (product of the shape; 1 for a scalar), `None` on overflow.
    pub fn numel(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }

    /// Number of bytes of the tensor in C order, `None` on overflow.
    pub fn nbytes(&self) -> Option<u64> {
        self.numel()?.checked_mul(self.dtype.size())
    }

    /// True if the elements are one run of the storage in C order (strides of size-1 dimensions
    /// do not matter; a tensor with no elements is contiguous).
    pub fn is_contiguous(&self) -> bool {
        if self.shape.contains(&0) {
            return true;
        }
        let mut expect = 1u64;
        for (&d, &s) in self.shape.iter().zip(&self.stride).rev() {
            if d != 1 {
                if s != expect {
                    return false;
                }
                expect = expect.saturating_mul(d);
            }
        }
        true
    }

    /// The element range `[first, last + 1)` of the storage this view touches (`None` on
    /// overflow); an empty range for a tensor without elements.
    pub fn storage_span(&self) -> Option<(u64, u64)> {
        if self.shape.contains(&0) {
            return Some((self.storage_offset, self.storage_offset));
        }
        let mut last = self.storage_offset;
        for (&d, &s) in self.shape.iter().zip(&self.stride) {
            last = last.checked_add((d - 1).checked_mul(s)?)?;
        }
        Some((self.storage_offset, last.checked_add(1)?))
    }
}

/// C-order (row-major) strides of `shape`, in elements.
pub fn contiguous_strides(shape: &[u64]) -> Vec<u64> {
    let mut out = vec![0u64; shape.len()];
    let mut acc = 1u64;
    for i in (0..shape.len()).rev() {
        out[i] = acc;
        acc = acc.saturating_mul(shape[i].max(1));
    }
    out
}

/// A value of `data.pkl`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    /// An int that fits 64 bits.
    Int(i64),
    /// A wider int: little-endian two's complement bytes, as pickle's `LONG1` stores them.
    BigInt(Vec<u8>),
    Float(f64),
    /// `complex(re, im)`.
    Complex(f64, f64),
    Str(String),
    /// `bytes` (pickled as `_codecs.encode(str, 'latin1')`) or `bytearray`.
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// `set` (elements in pickle order, duplicates removed).
    Set(Vec<Value>),
    Dict(Dict),
    Tensor(Box<TensorInfo>),
    /// A torch dtype object (`torch.float32` -> `"float32"`).
    Dtype(String),
    /// `torch.device(...)` as its string (`cpu`, `cuda:0`).
    Device(String),
    /// Another allowed global used as a plain value (its full dotted name).
    Global(String),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(x: i64) -> Value {
        Value::Int(x)
    }
}
impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}
impl From<bool> for Value {
    fn from(x: bool) -> Value {
        Value::Bool(x)
    }
}
impl From<TensorInfo> for Value {
    fn from(t: TensorInfo) -> Value {
        Value::Tensor(Box::new(t))
    }
}
impl From<Dict> for Value {
    fn from(d: Dict) -> Value {
        Value::Dict(d)
    }
}

impl Value {
    /// The mapping, if this is one.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }
    /// The tensor, if this is one.
    pub fn as_tensor(&self) -> Option<&TensorInfo> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The int, if this is one that fits 64 bits (a bool is not an int here).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// The number as f64 (floats and ints).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    /// True for None, bool, int, float, complex, str and bytes.
    pub fn is_scalar(&self) -> bool {
        matches!(
            self,
            Value::None
                | Value::Bool(_)
                | Value::Int(_)
                | Value::BigInt(_)
                | Value::Float(_)
                | Value::Complex(..)
                | Value::Str(_)
                | Value::Bytes(_)
        )
    }
    /// A short name of the variant, for error messages (`dict`, `tensor`, `str`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Complex(..) => "complex",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Dict(d) => match d.kind {
                DictKind::Dict => "dict",
                DictKind::OrderedDict => "OrderedDict",
                DictKind::Counter => "Counter",
            },
            Value::Tensor(_) => "tensor",
            Value::Dtype(_) => "dtype",
            Value::Device(_) => "device",
            Value::Global(_) => "global",
        }
    }
}

/// One step of a [`TensorPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSeg {
    /// A string key of a mapping.
    Key(String),
    /// An int key of a mapping (optimizer state is keyed by parameter index).
    Int(i64),
    /// A position in a list or tuple.
    Index(usize),
    /// Another key (bool, float, tuple, ...), shown as Python would `repr` it.
    Other(String),
}

/// Where a value sits in the tree: the keys and indices from the root.
///
/// Shown (and used as a tensor's name) with the segments joined by `.`:
/// `model.encoder.lin.weight`, `optimizer.state.0.exp_avg`. A state-dict key already contains
/// dots, so the shown form is for humans; the segments are exact.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorPath(pub Vec<PathSeg>);

impl fmt::Display for TensorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match s {
                PathSeg::Key(k) => f.write_str(k)?,
                PathSeg::Int(n) => write!(f, "{n}")?,
                PathSeg::Index(n) => write!(f, "{n}")?,
                PathSeg::Other(o) => f.write_str(o)?,
            }
        }
        Ok(())
    }
}

impl TensorPath {
    /// The path with `seg` appended.
    pub fn child(&self, seg: PathSeg) -> TensorPath {
        let mut v = self.0.clone();
        v.push(seg);
        TensorPath(v)
    }

    /// The path segment of a mapping key.
    pub fn key_seg(key: &Value) -> PathSeg {
        match key {
            Value::Str(s) => PathSeg::Key(s.clone()),
            Value::Int(i) => PathSeg::Int(*i),
            other => PathSeg::Other(repr(other)),
        }
    }
}

/// A short Python-like rendering of a (key) value.
pub fn repr(v: &Value) -> String {
    match v {
        Value::None => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(b) => format!("<int of {} bytes>", b.len()),
        Value::Float(x) => format!("{x:?}"),
        Value::Complex(a, b) => format!("({a:?}+{b:?}j)"),
        Value::Str(s) => format!("{s:?}"),
        Value::Bytes(b) => format!("<{} bytes>", b.len()),
        Value::Tuple(items) => {
            let inner: Vec<String> = items.iter().map(repr).collect();
            format!("({})", inner.join(", "))
        }
        other => format!("<{}>", other.type_name()),
    }
}

/// A tensor found in the tree, with where it was found.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// The name: a state-dict key for [`crate::PtFile::state_dict`], the dotted
    /// [`TensorPath`] for [`crate::PtFile::tensors`].
    pub name: String,
    pub path: TensorPath,
    pub info: TensorInfo,
}

/// Every tensor under `v` in tree order (mapping items, then mapping attributes; list and tuple
/// elements), with its path.
pub fn collect_tensors(v: &Value, at: &TensorPath, out: &mut Vec<NamedTensor>) {
    match v {
        Value::Tensor(t) => out.push(NamedTensor {
            name: at.to_string(),
            path: at.clone(),
            info: (**t).clone(),
        }),
        Value::Dict(d) => {
            for (k, x) in d.items.iter().chain(&d.attrs) {
                collect_tensors(x, &at.child(TensorPath::key_seg(k)), out);
            }
        }
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
            for (i, x) in items.iter().enumerate() {
                collect_tensors(x, &at.child(PathSeg::Index(i)), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[u64], stride: &[u64], off: u64) -> TensorInfo {
        TensorInfo {
            dtype: DType::F32,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
            storage_offset: off,
            storage: StorageRef {
                key: "0".into(),
                dtype: DType::F32,
                numel: 100,
                location: "cpu".into(),
            },
            requires_grad: false,
            parameter: false,
        }
    }

    #[test]
    fn contiguity_and_spans() {
        assert!(t(&[2, 3], &[3, 1], 0).is_contiguous());
        assert!(!t(&[3, 2], &[1, 3], 0).is_contiguous());
        assert!(t(&[2, 1, 3], &[3, 99, 1], 4).is_contiguous());
        assert!(t(&[0, 5], &[0, 0], 7).is_contiguous());
        assert!(t(&[], &[], 5).is_contiguous());
        assert_eq!(t(&[3, 2], &[1, 3], 2).storage_span(), Some((2, 8)));
        assert_eq!(t(&[], &[], 5).storage_span(), Some((5, 6)));
        assert_eq!(t(&[4], &[0], 1).storage_span(), Some((1, 2)));
        assert_eq!(t(&[2, 0], &[1, 1], 9).storage_span(), Some((9, 9)));
        assert_eq!(t(&[u64::MAX, 3], &[u64::MAX, 1], 0).storage_span(), None);
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(contiguous_strides(&[2, 0, 4]), vec![4, 4, 1]);
    }

    #[test]
    fn paths() {
        let p = TensorPath::default()
            .child(PathSeg::Key("optimizer".into()))
            .child(PathSeg::Key("state".into()))
            .child(PathSeg::Int(0))
            .child(PathSeg::Key("exp_avg".into()));
        assert_eq!(p.to_string(), "optimizer.state.0.exp_avg");
        assert_eq!(
            TensorPath::key_seg(&Value::Tuple(vec![Value::Int(1), Value::from("a")])),
            PathSeg::Other("(1, \"a\")".into())
        );
    }
}
