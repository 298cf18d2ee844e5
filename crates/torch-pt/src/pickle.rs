//! The restricted unpickler of `data.pkl` (docs/pt-format.md §3, §4).
//!
//! It accepts exactly the opcodes of torch 2.15's weights-only unpickler
//! (`torch/_weights_only_unpickler.py`) and only the globals that unpickler allows; of those it
//! *represents* the ones state dicts use (mappings, tensors, parameters, plain values) and
//! refuses the rest (sparse, quantized, meta tensors, tensor subclasses) with
//! [`ErrorKind::Unsupported`]. Nothing is ever executed: a global is resolved against a fixed
//! table, and "calling" one builds a [`Value`].
//!
//! Objects live in an arena while the pickle runs (so the memo and `SETITEMS` after `BINPUT`
//! behave as in Python) and are expanded into a [`Value`] tree at `STOP`. Limits: nesting depth
//! [`MAX_DEPTH`] (marks and tree depth), expansion of shared (memoised) objects to at most
//! `4 * opcodes + 65536` values, no cycles. Everything else is bounded by the pickle's length.

use std::collections::HashMap;

use crate::dtype::{supported_storage_classes, DType};
use crate::error::{err, Error, ErrorKind, Result};
use crate::value::{Dict, DictKind, StorageRef, TensorInfo, Value};

/// Deepest nesting accepted (unclosed MARKs, and containers inside containers).
pub const MAX_DEPTH: usize = 256;

type Id = u32;

/// The callables and classes `data.pkl` may name.
#[derive(Clone, Debug, PartialEq)]
enum Callable {
    OrderedDict,
    Counter,
    RebuildTensorV2,
    RebuildTensorV3,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    CodecsEncode,
    Set,
    ByteArray,
    Complex,
    Size,
    Device,
    Parameter,
    /// `torch.Tensor` (a class: only meaningful as `_rebuild_from_type_v2`'s type).
    TensorClass,
    /// A storage class: `Some(dtype)` legacy typed storages, `None` `torch.storage.UntypedStorage`.
    Storage(Option<DType>),
    /// Allowed by torch, not represented here: the name and why.
    Unsupported(String, &'static str),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HKey {
    None,
    Int(i64),
    Big(Vec<u8>),
    Float(u64),
    Complex(u64, u64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<HKey>),
    /// Objects hashed by identity (tensors, storages, globals).
    Ident(Id),
}

#[derive(Debug)]
enum Node {
    None,
    Bool(bool),
    Int(i64),
    Big(Vec<u8>),
    Float(f64),
    Complex(f64, f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Set(Vec<Id>),
    Dict {
        kind: DictKind,
        items: Vec<(Id, Id)>,
        index: HashMap<HKey, usize>,
        attrs: Vec<(Id, Id)>,
    },
    Global(Callable, String),
    /// A persistent-id storage; `dtype: None` = untyped (bytes).
    Storage {
        dtype: Option<DType>,
        key: String,
        location: String,
        numel: u64,
    },
    Tensor(Box<TensorInfo>),
    Dtype(String),
    Device(String),
}

/// What [`unpickle`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Unpickled {
    /// The top-level object.
    pub root: Value,
    /// The number of the first PROTO opcode, if any.
    pub protocol: Option<u8>,
    /// Every global named, as `module.name`, in order of first appearance.
    pub globals: Vec<String>,
}

/// The dtype names torch 2.15's weights-only unpickler allows as `GLOBAL torch <name>`.
const TORCH_DTYPES: [&str; 47] = [
    "bcomplex32",
    "bfloat16",
    "bits16",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bool",
    "complex128",
    "complex32",
    "complex64",
    "float16",
    "float32",
    "float4_e2m1fn_x2",
    "float64",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "int1",
    "int16",
    "int2",
    "int3",
    "int32",
    "int4",
    "int5",
    "int6",
    "int64",
    "int7",
    "int8",
    "qint32",
    "qint8",
    "quint2x4",
    "quint4x2",
    "quint8",
    "uint1",
    "uint16",
    "uint2",
    "uint3",
    "uint32",
    "uint4",
    "uint5",
    "uint6",
    "uint64",
    "uint7",
    "uint8",
];

/// torch's quantization schemes (allowed objects, not represented here).
const QSCHEMES: [&str; 5] = [
    "per_channel_affine",
    "per_channel_affine_float_qparams",
    "per_channel_symmetric",
    "per_tensor_affine",
    "per_tensor_symmetric",
];

/// Storage classes torch allows that hold dtypes outside [`DType`].
const UNSUPPORTED_STORAGES: [&str; 7] = [
    "ComplexDoubleStorage",
    "ComplexFloatStorage",
    "QInt32Storage",
    "QInt8Storage",
    "QUInt2x4Storage",
    "QUInt4x2Storage",
    "QUInt8Storage",
];

const TENSOR_TYPES: [&str; 10] = [
    "BFloat16", "Bool", "Byte", "Char", "Double", "Float", "Half", "Int", "Long", "Short",
];

/// Python 2 module names pickle maps (torch applies the same table).
fn import_mapping(module: &str) -> &str {
    match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        "Queue" => "queue",
        "repr" => "reprlib",
        "_abcoll" => "collections.abc",
        "UserDict" | "UserList" | "UserString" => "collections",
        "whichdb" => "dbm",
        "StringIO" | "cStringIO" => "io",
        other => other,
    }
}

/// Resolves `GLOBAL module name` against the allow-list; a forbidden global is an error.
fn resolve_global(module: &str, name: &str) -> Result<Node> {
    let module = import_mapping(module);
    let full = format!("{module}.{name}");
    let g = |c: Callable| Ok(Node::Global(c, full.clone()));
    let unsupported = |why: &'static str| {
        Ok(Node::Global(
            Callable::Unsupported(full.clone(), why),
            full.clone(),
        ))
    };
    if matches!(module, "sys" | "os" | "posix" | "nt") {
        return Err(forbidden(&full, &format!("module '{module}' is blocked")));
    }
    match (module, name) {
        ("collections", "OrderedDict") => return g(Callable::OrderedDict),
        ("collections", "Counter") => return g(Callable::Counter),
        ("torch._utils", "_rebuild_tensor_v2") => return g(Callable::RebuildTensorV2),
        ("torch._utils", "_rebuild_tensor_v3") => return g(Callable::RebuildTensorV3),
        ("torch._utils", "_rebuild_parameter") => return g(Callable::RebuildParameter),
        ("torch._utils", "_rebuild_parameter_with_state") => {
            return g(Callable::RebuildParameterWithState)
        }
        ("torch._tensor", "_rebuild_from_type_v2") => return g(Callable::RebuildFromTypeV2),
        ("torch._utils", "_rebuild_tensor") => {
            return unsupported("the pre-1.0 tensor layout (_rebuild_tensor)")
        }
        ("torch._utils", "_rebuild_qtensor") => return unsupported("quantized tensors"),
        ("torch._utils", "_rebuild_sparse_tensor") => return unsupported("sparse tensors"),
        ("torch._utils", "_rebuild_meta_tensor_no_storage") => {
            return unsupported("meta tensors (no data)")
        }
        ("torch._utils", "_rebuild_wrapper_subclass") => {
            return unsupported("tensor wrapper subclasses")
        }
        ("torch._utils", "_rebuild_device_tensor_from_numpy")
        | ("torch._utils", "_rebuild_device_tensor_from_cpu_tensor") => {
            return unsupported("device tensors rebuilt from numpy/CPU copies")
        }
        ("torch.serialization", "_get_layout") => return unsupported("sparse tensor layouts"),
        ("_codecs", "encode") => return g(Callable::CodecsEncode),
        ("builtins", "set") => return g(Callable::Set),
        ("builtins", "bytearray") => return g(Callable::ByteArray),
        ("builtins", "complex") => return g(Callable::Complex),
        ("torch", "Size") => return g(Callable::Size),
        ("torch", "device") => return g(Callable::Device),
        ("torch", "Tensor") => return g(Callable::TensorClass),
        ("torch.nn.parameter", "Parameter") => return g(Callable::Parameter),
        ("torch.storage", "UntypedStorage") => return g(Callable::Storage(None)),
        ("torch.storage", "TypedStorage") => {
            return unsupported("TypedStorage objects outside a persistent id")
        }
        _ => {}
    }
    if module == "torch" || module == "torch.cuda" {
        if let Some(d) = DType::from_storage_class(name) {
            return g(Callable::Storage(Some(d)));
        }
        if UNSUPPORTED_STORAGES.contains(&name) {
            return unsupported("a storage dtype outside the supported set");
        }
    }
    if module == "torch" && TORCH_DTYPES.contains(&name) {
        return Ok(Node::Dtype(name.to_string()));
    }
    if module == "torch" && QSCHEMES.contains(&name) {
        return unsupported("quantization schemes");
    }
    let tensor_class = |prefix: &str| {
        name.strip_suffix("Tensor")
            .is_some_and(|t| TENSOR_TYPES.contains(&t) && !(prefix == "sparse" && t == "Bool"))
    };
    if (module == "torch" || module == "torch.cuda") && tensor_class("") {
        return unsupported("legacy tensor type constructors");
    }
    if (module == "torch.sparse" || module == "torch.cuda.sparse") && tensor_class("sparse") {
        return unsupported("sparse tensors");
    }
    if full.starts_with("torch.distributed.") {
        return Err(forbidden(
            &full,
            "DTensors need torch.distributed.tensor (torch refuses it too)",
        ));
    }
    Err(forbidden(&full, "not an allowed global"))
}

/// True if `torch.<name>` is a dtype global torch's weights-only unpickler allows.
pub(crate) fn is_torch_dtype(name: &str) -> bool {
    TORCH_DTYPES.contains(&name)
}

/// True if `module.name` is an allowed global that reads back as [`Value::Global`].
pub(crate) fn is_allowed_plain_global(module: &str, name: &str) -> bool {
    matches!(resolve_global(module, name), Ok(Node::Global(c, _)) if !matches!(c, Callable::Storage(_)))
}

fn forbidden(full: &str, why: &str) -> Error {
    err(
        ErrorKind::ForbiddenGlobal,
        format!(
            "data.pkl: GLOBAL {full} refused ({why}); a .pt state dict may only name the globals torch's weights-only unpickler allows (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.<X>Storage, ...): nothing is executed"
        ),
    )
}

/// The pickle name of an opcode byte this unpickler refuses, for messages.
fn opcode_name(op: u8) -> &'static str {
    match op {
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'L' => "LONG",
        b'P' => "PERSID",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'V' => "UNICODE",
        b'g' => "GET",
        b'p' => "PUT",
        b'd' => "DICT",
        b'l' => "LIST",
        b'i' => "INST",
        b'o' => "OBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x8b => "LONG4",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x8c => "SHORT_BINUNICODE (protocol 4)",
        0x8d => "BINUNICODE8 (protocol 4)",
        0x8e => "BINBYTES8 (protocol 4)",
        0x90 => "ADDITEMS (protocol 4)",
        0x91 => "FROZENSET (protocol 4)",
        0x92 => "NEWOBJ_EX (protocol 4)",
        0x93 => "STACK_GLOBAL (protocol 4)",
        0x94 => "MEMOIZE (protocol 4)",
        0x95 => "FRAME (protocol 4)",
        0x96 => "BYTEARRAY8 (protocol 5)",
        0x97 => "NEXT_BUFFER (protocol 5)",
        0x98 => "READONLY_BUFFER (protocol 5)",
        _ => "unknown opcode",
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u32, Id>,
    protocol: Option<u8>,
    globals: Vec<String>,
    ops: u64,
}

fn bad(msg: impl Into<String>) -> Error {
    err(ErrorKind::BadPickle, format!("data.pkl: {}", msg.into()))
}

impl<'a> Machine<'a> {
    fn at(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let data: &'a [u8] = self.data;
        let end = self.pos.checked_add(n).filter(|&e| e <= data.len());
        match end {
            Some(e) => {
                let s = &data[self.pos..e];
                self.pos = e;
                Ok(s)
            }
            None => Err(err(
                ErrorKind::Truncated,
                format!(
                    "data.pkl: {what} at byte {} needs {n} bytes, only {} remain",
                    self.pos,
                    data.len() - self.pos
                ),
            )),
        }
    }

    fn line(&mut self, what: &str) -> Result<&'a str> {
        let data: &'a [u8] = self.data;
        let rest = &data[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or_else(|| {
            err(
                ErrorKind::Truncated,
                format!(
                    "data.pkl: GLOBAL {what} at byte {} has no newline",
                    self.pos
                ),
            )
        })?;
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| bad(format!("GLOBAL {what} at byte {} is not UTF-8", self.pos)))?;
        self.pos += n + 1;
        Ok(s)
    }

    fn push_node(&mut self, n: Node) -> Result<Id> {
        let id = Id::try_from(self.nodes.len())
            .map_err(|_| err(ErrorKind::TooLarge, "data.pkl: too many objects"))?;
        self.nodes.push(n);
        self.stack.push(id);
        Ok(id)
    }

    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self, op: &str) -> Result<Id> {
        if self.stack.len() <= self.floor() {
            return Err(bad(format!(
                "{op} at byte {} pops an empty stack",
                self.pos.saturating_sub(1)
            )));
        }
        self.stack
            .pop()
            .ok_or_else(|| bad(format!("{op}: empty stack")))
    }

    fn top(&self, op: &str) -> Result<Id> {
        if self.stack.len() <= self.floor() {
            return Err(bad(format!(
                "{op} at byte {} needs an object on the stack",
                self.pos.saturating_sub(1)
            )));
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| bad(format!("{op}: empty stack")))
    }

    fn pop_mark(&mut self, op: &str) -> Result<Vec<Id>> {
        let m = self.marks.pop().ok_or_else(|| {
            bad(format!(
                "{op} at byte {} without a MARK",
                self.pos.saturating_sub(1)
            ))
        })?;
        Ok(self.stack.split_off(m))
    }

    fn hkey(&self, id: Id, depth: usize) -> Result<HKey> {
        if depth > MAX_DEPTH {
            return Err(err(
                ErrorKind::TooDeep,
                format!("data.pkl: a dict key nests deeper than {MAX_DEPTH}"),
            ));
        }
        Ok(match &self.nodes[id as usize] {
            Node::None => HKey::None,
            Node::Bool(b) => HKey::Int(i64::from(*b)),
            Node::Int(i) => HKey::Int(*i),
            Node::Big(b) => HKey::Big(b.clone()),
            Node::Float(f) => {
                if f.fract() == 0.0 && *f >= -9.2e18 && *f <= 9.2e18 {
                    HKey::Int(*f as i64)
                } else {
                    HKey::Float(f.to_bits())
                }
            }
            Node::Complex(re, im) => {
                if *im == 0.0 && re.fract() == 0.0 && *re >= -9.2e18 && *re <= 9.2e18 {
                    HKey::Int(*re as i64)
                } else {
                    HKey::Complex(re.to_bits(), im.to_bits())
                }
            }
            Node::Str(s) => HKey::Str(s.clone()),
            Node::Bytes(b) => HKey::Bytes(b.clone()),
            Node::Tuple(items) => HKey::Tuple(
                items
                    .iter()
                    .map(|&i| self.hkey(i, depth + 1))
                    .collect::<Result<_>>()?,
            ),
            Node::List(_) | Node::Set(_) | Node::Dict { .. } => {
                return Err(bad(format!(
                    "unhashable {} used as a dict key or set element",
                    self.type_name(id)
                )))
            }
            _ => HKey::Ident(id),
        })
    }

    fn type_name(&self, id: Id) -> &'static str {
        match &self.nodes[id as usize] {
            Node::None => "None",
            Node::Bool(_) => "bool",
            Node::Int(_) | Node::Big(_) => "int",
            Node::Float(_) => "float",
            Node::Complex(..) => "complex",
            Node::Str(_) => "str",
            Node::Bytes(_) => "bytes",
            Node::Tuple(_) => "tuple",
            Node::List(_) => "list",
            Node::Set(_) => "set",
            Node::Dict { .. } => "dict",
            Node::Global(..) => "global",
            Node::Storage { .. } => "storage",
            Node::Tensor(_) => "tensor",
            Node::Dtype(_) => "dtype",
            Node::Device(_) => "device",
        }
    }

    fn set_item(&mut self, target: Id, k: Id, v: Id, op: &str) -> Result<()> {
        let key = match &self.nodes[target as usize] {
            Node::Dict { .. } => self.hkey(k, 0)?,
            _ => {
                return Err(bad(format!(
                    "{op} on a {} (only dict, OrderedDict and Counter)",
                    self.type_name(target)
                )))
            }
        };
        if let Node::Dict { items, index, .. } = &mut self.nodes[target as usize] {
            match index.get(&key) {
                Some(&i) => items[i].1 = v,
                None => {
                    index.insert(key, items.len());
                    items.push((k, v));
                }
            }
        }
        Ok(())
    }

    fn int_of(&self, id: Id, what: &str) -> Result<i64> {
        match &self.nodes[id as usize] {
            Node::Int(i) => Ok(*i),
            Node::Bool(b) => Ok(i64::from(*b)),
            _ => Err(bad(format!(
                "{what} must be an int, found {}",
                self.type_name(id)
            ))),
        }
    }

    fn u64_of(&self, id: Id, what: &str) -> Result<u64> {
        let i = self.int_of(id, what)?;
        u64::try_from(i).map_err(|_| {
            err(
                ErrorKind::BadTensor,
                format!("data.pkl: {what} is negative ({i})"),
            )
        })
    }

    fn ints_of(&self, id: Id, what: &str) -> Result<Vec<u64>> {
        match &self.nodes[id as usize] {
            Node::Tuple(items) | Node::List(items) => {
                items.iter().map(|&i| self.u64_of(i, what)).collect()
            }
            _ => Err(bad(format!(
                "{what} must be a tuple of ints, found {}",
                self.type_name(id)
            ))),
        }
    }

    fn str_of(&self, id: Id, what: &str) -> Result<String> {
        match &self.nodes[id as usize] {
            Node::Str(s) => Ok(s.clone()),
            Node::Bytes(b) => {
                String::from_utf8(b.clone()).map_err(|_| bad(format!("{what} is not ASCII/UTF-8")))
            }
            _ => Err(bad(format!(
                "{what} must be a str, found {}",
                self.type_name(id)
            ))),
        }
    }

    fn tuple_items(&self, id: Id, what: &str) -> Result<Vec<Id>> {
        match &self.nodes[id as usize] {
            Node::Tuple(items) => Ok(items.clone()),
            _ => Err(bad(format!(
                "{what}: the arguments must be a tuple, found {}",
                self.type_name(id)
            ))),
        }
    }

    fn tensor_of(&self, id: Id, what: &str) -> Result<TensorInfo> {
        match &self.nodes[id as usize] {
            Node::Tensor(t) => Ok((**t).clone()),
            _ => Err(bad(format!(
                "{what} needs a tensor, found {}",
                self.type_name(id)
            ))),
        }
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`
    /// and v3 (one more argument, the dtype, before the metadata).
    fn rebuild_tensor(&self, args: &[Id], v3: bool, name: &str) -> Result<Node> {
        let n_fixed = if v3 { 7 } else { 6 };
        if args.len() != n_fixed && args.len() != n_fixed + 1 {
            return Err(bad(format!(
                "{name} takes {n_fixed} or {} arguments, found {}",
                n_fixed + 1,
                args.len()
            )));
        }
        let (sdtype, key, location, numel) = match &self.nodes[args[0] as usize] {
            Node::Storage {
                dtype,
                key,
                location,
                numel,
            } => (*dtype, key.clone(), location.clone(), *numel),
            _ => {
                return Err(bad(format!(
                    "{name}: the first argument must be a storage (BINPERSID), found {}",
                    self.type_name(args[0])
                )))
            }
        };
        let offset = self.u64_of(args[1], "the storage offset")?;
        let shape = self.ints_of(args[2], "the size")?;
        let stride = self.ints_of(args[3], "the stride")?;
        if shape.len() != stride.len() {
            return Err(err(
                ErrorKind::BadTensor,
                format!(
                    "data.pkl: {name}: size has {} dimensions, stride {}",
                    shape.len(),
                    stride.len()
                ),
            ));
        }
        let requires_grad = match &self.nodes[args[4] as usize] {
            Node::Bool(b) => *b,
            _ => {
                return Err(bad(format!(
                    "{name}: requires_grad must be a bool, found {}",
                    self.type_name(args[4])
                )))
            }
        };
        let (dtype, storage) = if v3 {
            let d = match &self.nodes[args[6] as usize] {
                Node::Dtype(s) => DType::from_name(s).ok_or_else(|| {
                    err(
                        ErrorKind::UnsupportedDtype,
                        format!(
                            "data.pkl: dtype torch.{s} is not supported (supported: {})",
                            DType::ALL.map(|d| d.name()).join(", ")
                        ),
                    )
                })?,
                _ => {
                    return Err(bad(format!(
                        "{name}: the dtype argument must be a torch dtype, found {}",
                        self.type_name(args[6])
                    )))
                }
            };
            // v3 takes bytes (UntypedStorage); a typed storage must already have this dtype.
            let numel_d = match sdtype {
                None => {
                    if numel % d.size() != 0 {
                        return Err(err(
                            ErrorKind::BadTensor,
                            format!(
                                "data.pkl: storage '{key}' has {numel} bytes, not a whole number of {d} elements"
                            ),
                        ));
                    }
                    numel / d.size()
                }
                Some(sd) if sd == d => numel,
                Some(sd) => {
                    return Err(err(
                        ErrorKind::BadTensor,
                        format!("data.pkl: {name}: a {sd} storage rebuilt as {d}"),
                    ))
                }
            };
            (
                d,
                StorageRef {
                    key,
                    dtype: d,
                    numel: numel_d,
                    location,
                },
            )
        } else {
            let d = sdtype.ok_or_else(|| {
                err(
                    ErrorKind::Unsupported,
                    format!(
                        "data.pkl: {name} of an untyped storage '{key}' (torch needs _rebuild_tensor_v3 for that)"
                    ),
                )
            })?;
            (
                d,
                StorageRef {
                    key,
                    dtype: d,
                    numel,
                    location,
                },
            )
        };
        if let Some(&m) = args.get(n_fixed) {
            let empty = match &self.nodes[m as usize] {
                Node::None => true,
                Node::Dict { items, .. } => items.is_empty(),
                _ => false,
            };
            if !empty {
                return Err(err(
                    ErrorKind::Unsupported,
                    format!(
                        "data.pkl: {name} with tensor metadata (conjugate/negative bits) is not supported"
                    ),
                ));
            }
        }
        Ok(Node::Tensor(Box::new(TensorInfo {
            dtype,
            shape,
            stride,
            storage_offset: offset,
            storage,
            requires_grad,
            parameter: false,
        })))
    }

    fn call(&self, func: Id, args_id: Id, depth: usize) -> Result<Node> {
        let (c, name) = match &self.nodes[func as usize] {
            Node::Global(c, name) => (c.clone(), name.clone()),
            _ => {
                return Err(bad(format!(
                    "REDUCE calls a {} (only allowed globals are callable)",
                    self.type_name(func)
                )))
            }
        };
        let args = self.tuple_items(args_id, &name)?;
        let want = |n: &[usize]| -> Result<()> {
            if n.contains(&args.len()) {
                Ok(())
            } else {
                Err(bad(format!(
                    "{name} called with {} arguments (expected {n:?})",
                    args.len()
                )))
            }
        };
        match c {
            Callable::OrderedDict | Callable::Counter => {
                want(&[0])?;
                let kind = if c == Callable::Counter {
                    DictKind::Counter
                } else {
                    DictKind::OrderedDict
                };
                Ok(Node::Dict {
                    kind,
                    items: Vec::new(),
                    index: HashMap::new(),
                    attrs: Vec::new(),
                })
            }
            Callable::RebuildTensorV2 => self.rebuild_tensor(&args, false, &name),
            Callable::RebuildTensorV3 => self.rebuild_tensor(&args, true, &name),
            Callable::RebuildParameter | Callable::RebuildParameterWithState => {
                want(if c == Callable::RebuildParameter {
                    &[3]
                } else {
                    &[4]
                })?;
                let mut t = self.tensor_of(args[0], &name)?;
                t.requires_grad = match &self.nodes[args[1] as usize] {
                    Node::Bool(b) => *b,
                    _ => return Err(bad(format!("{name}: requires_grad must be a bool"))),
                };
                t.parameter = true;
                Ok(Node::Tensor(Box::new(t)))
            }
            Callable::Parameter => {
                want(&[1, 2])?;
                let mut t = self.tensor_of(args[0], &name)?;
                t.requires_grad = match args.get(1).map(|&i| &self.nodes[i as usize]) {
                    None => true,
                    Some(Node::Bool(b)) => *b,
                    Some(_) => return Err(bad(format!("{name}: requires_grad must be a bool"))),
                };
                t.parameter = true;
                Ok(Node::Tensor(Box::new(t)))
            }
            Callable::RebuildFromTypeV2 => {
                want(&[4])?;
                if depth > 2 {
                    return Err(bad("nested _rebuild_from_type_v2"));
                }
                let parameter = match &self.nodes[args[1] as usize] {
                    Node::Global(Callable::TensorClass, _) => false,
                    Node::Global(Callable::Parameter, _) => true,
                    _ => {
                        return Err(err(
                            ErrorKind::Unsupported,
                            format!(
                                "data.pkl: {name} of a {} (tensor subclasses are not supported)",
                                self.type_name(args[1])
                            ),
                        ))
                    }
                };
                match self.call(args[0], args[2], depth + 1)? {
                    Node::Tensor(mut t) => {
                        t.parameter |= parameter;
                        Ok(Node::Tensor(t))
                    }
                    _ => Err(bad(format!("{name}: the rebuild function gave no tensor"))),
                }
            }
            Callable::CodecsEncode => {
                want(&[2])?;
                let s = match &self.nodes[args[0] as usize] {
                    Node::Str(s) => s,
                    _ => return Err(bad("_codecs.encode needs a str")),
                };
                let enc = self.str_of(args[1], "_codecs.encode's encoding")?;
                match enc.to_ascii_lowercase().replace('_', "-").as_str() {
                    "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" => Ok(Node::Bytes(latin1(s)?)),
                    "utf-8" | "utf8" => Ok(Node::Bytes(s.as_bytes().to_vec())),
                    _ => Err(err(
                        ErrorKind::Unsupported,
                        format!("data.pkl: _codecs.encode with encoding {enc:?}"),
                    )),
                }
            }
            Callable::ByteArray => {
                want(&[0, 1, 2])?;
                match args.first().map(|&i| &self.nodes[i as usize]) {
                    None => Ok(Node::Bytes(Vec::new())),
                    Some(Node::Bytes(b)) => Ok(Node::Bytes(b.clone())),
                    Some(Node::Str(s)) if args.len() == 2 => Ok(Node::Bytes(latin1(s)?)),
                    Some(_) => Err(err(
                        ErrorKind::Unsupported,
                        "data.pkl: bytearray from this argument",
                    )),
                }
            }
            Callable::Set => {
                want(&[0, 1])?;
                let items = match args.first().map(|&i| &self.nodes[i as usize]) {
                    None => Vec::new(),
                    Some(Node::List(v)) | Some(Node::Tuple(v)) => v.clone(),
                    Some(_) => return Err(bad("set() needs a list")),
                };
                let mut out = Vec::new();
                let mut index = HashMap::new();
                for i in items {
                    if index.insert(self.hkey(i, 0)?, ()).is_none() {
                        out.push(i);
                    }
                }
                Ok(Node::Set(out))
            }
            Callable::Complex => {
                want(&[1, 2])?;
                let num = |i: Id| -> Result<f64> {
                    match &self.nodes[i as usize] {
                        Node::Float(f) => Ok(*f),
                        Node::Int(x) => Ok(*x as f64),
                        Node::Bool(b) => Ok(f64::from(u8::from(*b))),
                        _ => Err(bad("complex() needs numbers")),
                    }
                };
                let re = num(args[0])?;
                let im = match args.get(1) {
                    Some(&i) => num(i)?,
                    None => 0.0,
                };
                Ok(Node::Complex(re, im))
            }
            Callable::Size => {
                want(&[0, 1])?;
                match args.first() {
                    None => Ok(Node::Tuple(Vec::new())),
                    Some(&i) => {
                        let items = match &self.nodes[i as usize] {
                            Node::Tuple(v) | Node::List(v) => v.clone(),
                            _ => return Err(bad("torch.Size needs a tuple")),
                        };
                        for &x in &items {
                            self.int_of(x, "a torch.Size element")?;
                        }
                        Ok(Node::Tuple(items))
                    }
                }
            }
            Callable::Device => {
                want(&[1, 2])?;
                let ty = self.str_of(args[0], "torch.device's type")?;
                match args.get(1) {
                    None => Ok(Node::Device(ty)),
                    Some(&i) => {
                        let idx = self.int_of(i, "torch.device's index")?;
                        Ok(Node::Device(format!("{ty}:{idx}")))
                    }
                }
            }
            Callable::TensorClass => Err(err(
                ErrorKind::Unsupported,
                "data.pkl: calling torch.Tensor(...) (legacy constructor) is not supported",
            )),
            Callable::Storage(_) => Err(err(
                ErrorKind::Unsupported,
                format!("data.pkl: calling {name} (storages are only loaded through BINPERSID)"),
            )),
            Callable::Unsupported(n, why) => Err(err(
                ErrorKind::Unsupported,
                format!(
                    "data.pkl: {n} ({why}) is allowed by torch's weights-only unpickler but not supported here"
                ),
            )),
        }
    }

    fn persistent_load(&self, pid: Id) -> Result<Node> {
        let items = match &self.nodes[pid as usize] {
            Node::Tuple(items) => items.clone(),
            _ => {
                return Err(bad(format!(
                    "BINPERSID of a {} (torch loads only ('storage', class, key, location, numel) tuples)",
                    self.type_name(pid)
                )))
            }
        };
        if items.len() != 5 {
            return Err(bad(format!(
                "BINPERSID of a tuple of {} items (expected ('storage', class, key, location, numel))",
                items.len()
            )));
        }
        let tag = self.str_of(items[0], "the persistent id's type")?;
        if tag != "storage" {
            return Err(bad(format!(
                "BINPERSID of a '{tag}' (only 'storage' is allowed)"
            )));
        }
        let dtype = match &self.nodes[items[1] as usize] {
            Node::Global(Callable::Storage(d), _) => *d,
            Node::Global(Callable::Unsupported(n, _), _) if n.ends_with("Storage") => {
                return Err(err(
                    ErrorKind::UnsupportedDtype,
                    format!(
                        "data.pkl: storage class {n} is not supported (supported: {})",
                        supported_storage_classes()
                    ),
                ))
            }
            _ => {
                return Err(bad(format!(
                    "the storage class of a persistent id must be a storage type, found {}",
                    self.type_name(items[1])
                )))
            }
        };
        let key = match &self.nodes[items[2] as usize] {
            Node::Int(i) => i.to_string(),
            _ => self.str_of(items[2], "the storage key")?,
        };
        let location = self.str_of(items[3], "the storage location")?;
        let numel = self.int_of(items[4], "the storage size")?;
        let numel = u64::try_from(numel).map_err(|_| {
            err(
                ErrorKind::BadTensor,
                format!("data.pkl: storage '{key}' has a negative size {numel}"),
            )
        })?;
        Ok(Node::Storage {
            dtype,
            key,
            location,
            numel,
        })
    }

    fn run(&mut self) -> Result<Id> {
        loop {
            let at = self.at();
            let op = *self
                .take(1, "opcode")
                .map_err(|_| {
                    err(
                        ErrorKind::Truncated,
                        format!("data.pkl: ends at byte {at} without a STOP opcode"),
                    )
                })?
                .first()
                .ok_or_else(|| bad("empty read"))?;
            self.ops += 1;
            match op {
                0x80 => {
                    let p = self.take(1, "PROTO")?[0];
                    self.protocol.get_or_insert(p);
                }
                b'.' => {
                    return self.pop("STOP");
                }
                b'c' => {
                    let module = self.line("module")?;
                    let name = self.line("name")?;
                    let full = format!("{}.{}", import_mapping(module), name);
                    if !self.globals.contains(&full) && self.globals.len() < 1024 {
                        self.globals.push(full);
                    }
                    let node = resolve_global(module, name)?;
                    self.push_node(node)?;
                }
                b'R' => {
                    let args = self.pop("REDUCE")?;
                    let func = self.top("REDUCE")?;
                    let node = self.call(func, args, 0)?;
                    self.pop("REDUCE")?;
                    self.push_node(node)?;
                }
                0x81 => {
                    // NEWOBJ: cls.__new__(cls, *args) for the classes that allow it.
                    let args = self.pop("NEWOBJ")?;
                    let cls = self.pop("NEWOBJ")?;
                    let node = match &self.nodes[cls as usize] {
                        Node::Global(
                            Callable::OrderedDict
                            | Callable::Counter
                            | Callable::Set
                            | Callable::Parameter,
                            _,
                        ) => self.call(cls, args, 0)?,
                        Node::Global(_, name) => {
                            return Err(err(
                                ErrorKind::Unsupported,
                                format!("data.pkl: NEWOBJ of {name}"),
                            ))
                        }
                        _ => {
                            return Err(bad(format!(
                                "NEWOBJ of a {} (not a class)",
                                self.type_name(cls)
                            )))
                        }
                    };
                    self.push_node(node)?;
                }
                b'b' => {
                    // BUILD: only OrderedDict/Counter attributes (a state dict's _metadata).
                    let state = self.pop("BUILD")?;
                    let inst = self.top("BUILD")?;
                    let state_items = match &self.nodes[state as usize] {
                        Node::Dict { items, .. } => items.clone(),
                        Node::None => Vec::new(),
                        _ => {
                            return Err(err(
                                ErrorKind::Unsupported,
                                format!(
                                    "data.pkl: BUILD with a {} state",
                                    self.type_name(state)
                                ),
                            ))
                        }
                    };
                    match &mut self.nodes[inst as usize] {
                        Node::Dict {
                            kind: DictKind::OrderedDict | DictKind::Counter,
                            attrs,
                            ..
                        } => {
                            for (k, v) in state_items {
                                attrs.push((k, v));
                            }
                        }
                        Node::Tensor(_) => {
                            return Err(err(
                                ErrorKind::Unsupported,
                                "data.pkl: BUILD on a tensor (legacy set_ state)",
                            ))
                        }
                        _ => {
                            let t = self.type_name(inst);
                            return Err(bad(format!(
                                "BUILD on a {t} (torch builds only Tensor, Parameter and OrderedDict)"
                            )));
                        }
                    }
                    // attribute names must be strings, as __dict__ keys are
                    if let Node::Dict { attrs, .. } = &self.nodes[inst as usize] {
                        for &(k, _) in attrs {
                            if !matches!(self.nodes[k as usize], Node::Str(_)) {
                                return Err(bad("BUILD: an attribute name is not a str"));
                            }
                        }
                    }
                }
                b'a' => {
                    let item = self.pop("APPEND")?;
                    let list = self.top("APPEND")?;
                    let t = self.type_name(list);
                    match &mut self.nodes[list as usize] {
                        Node::List(v) => v.push(item),
                        _ => return Err(bad(format!("APPEND to a {t} (only lists)"))),
                    }
                }
                b'e' => {
                    let items = self.pop_mark("APPENDS")?;
                    let list = self.top("APPENDS")?;
                    let t = self.type_name(list);
                    match &mut self.nodes[list as usize] {
                        Node::List(v) => v.extend(items),
                        _ => return Err(bad(format!("APPENDS to a {t} (only lists)"))),
                    }
                }
                b's' => {
                    let v = self.pop("SETITEM")?;
                    let k = self.pop("SETITEM")?;
                    let target = self.top("SETITEM")?;
                    self.set_item(target, k, v, "SETITEM")?;
                }
                b'u' => {
                    let items = self.pop_mark("SETITEMS")?;
                    let target = self.top("SETITEMS")?;
                    if items.len() % 2 != 0 {
                        return Err(bad(format!(
                            "SETITEMS at byte {at} with an odd number ({}) of items",
                            items.len()
                        )));
                    }
                    for kv in items.chunks(2) {
                        self.set_item(target, kv[0], kv[1], "SETITEMS")?;
                    }
                }
                b'(' => {
                    if self.marks.len() >= MAX_DEPTH {
                        return Err(err(
                            ErrorKind::TooDeep,
                            format!(
                                "data.pkl: more than {MAX_DEPTH} nested MARKs (at byte {at})"
                            ),
                        ));
                    }
                    self.marks.push(self.stack.len());
                }
                b't' => {
                    let items = self.pop_mark("TUPLE")?;
                    self.push_node(Node::Tuple(items))?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop("TUPLEn")?);
                    }
                    items.reverse();
                    self.push_node(Node::Tuple(items))?;
                }
                b'N' => {
                    self.push_node(Node::None)?;
                }
                0x88 => {
                    self.push_node(Node::Bool(true))?;
                }
                0x89 => {
                    self.push_node(Node::Bool(false))?;
                }
                b')' => {
                    self.push_node(Node::Tuple(Vec::new()))?;
                }
                b']' => {
                    self.push_node(Node::List(Vec::new()))?;
                }
                b'}' => {
                    self.push_node(Node::Dict {
                        kind: DictKind::Dict,
                        items: Vec::new(),
                        index: HashMap::new(),
                        attrs: Vec::new(),
                    })?;
                }
                0x8f => {
                    self.push_node(Node::Set(Vec::new()))?;
                }
                b'J' => {
                    let b = self.take(4, "BININT")?;
                    let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    self.push_node(Node::Int(i64::from(v)))?;
                }
                b'K' => {
                    let b = self.take(1, "BININT1")?;
                    self.push_node(Node::Int(i64::from(b[0])))?;
                }
                b'M' => {
                    let b = self.take(2, "BININT2")?;
                    self.push_node(Node::Int(i64::from(u16::from_le_bytes([b[0], b[1]]))))?;
                }
                b'G' => {
                    let b = self.take(8, "BINFLOAT")?;
                    let mut x = [0u8; 8];
                    x.copy_from_slice(b);
                    self.push_node(Node::Float(f64::from_be_bytes(x)))?;
                }
                0x8a => {
                    let n = self.take(1, "LONG1")?[0] as usize;
                    let b = self.take(n, "LONG1")?;
                    self.push_node(long1(b))?;
                }
                b'X' => {
                    let b = self.take(4, "BINUNICODE")?;
                    let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                    let s = self.take(n, "BINUNICODE")?;
                    let s = std::str::from_utf8(s).map_err(|_| {
                        bad(format!(
                            "BINUNICODE at byte {at} is not valid UTF-8 (surrogates are not supported)"
                        ))
                    })?;
                    self.push_node(Node::Str(s.to_string()))?;
                }
                b'U' => {
                    let n = self.take(1, "SHORT_BINSTRING")?[0] as usize;
                    let s = self.take(n, "SHORT_BINSTRING")?;
                    let s = std::str::from_utf8(s).map_err(|_| {
                        bad(format!(
                            "SHORT_BINSTRING at byte {at} is not UTF-8 (torch.load decodes it as UTF-8)"
                        ))
                    })?;
                    self.push_node(Node::Str(s.to_string()))?;
                }
                b'Q' => {
                    let pid = self.pop("BINPERSID")?;
                    let node = self.persistent_load(pid)?;
                    self.push_node(node)?;
                }
                b'h' | b'j' => {
                    let idx = if op == b'h' {
                        u32::from(self.take(1, "BINGET")?[0])
                    } else {
                        let b = self.take(4, "LONG_BINGET")?;
                        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
                    };
                    let id = *self.memo.get(&idx).ok_or_else(|| {
                        err(
                            ErrorKind::BadMemo,
                            format!("data.pkl: BINGET {idx} at byte {at} of an empty memo slot"),
                        )
                    })?;
                    self.stack.push(id);
                }
                b'q' | b'r' => {
                    let idx = if op == b'q' {
                        u32::from(self.take(1, "BINPUT")?[0])
                    } else {
                        let b = self.take(4, "LONG_BINPUT")?;
                        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
                    };
                    let top = self.top("BINPUT")?;
                    self.memo.insert(idx, top);
                }
                other => {
                    return Err(err(
                        ErrorKind::BadOpcode,
                        format!(
                            "data.pkl: opcode 0x{other:02x} {} at byte {at} is not accepted (torch's weights-only unpickler accepts only the protocol-2 subset of docs/pt-format.md §3)",
                            opcode_name(other)
                        ),
                    ))
                }
            }
        }
    }

    /// Expands node `id` into a [`Value`], counting values against `budget` and refusing
    /// cycles and depth beyond [`MAX_DEPTH`].
    fn expand(&self, id: Id, depth: usize, budget: &mut u64, open: &mut [bool]) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(err(
                ErrorKind::TooDeep,
                format!("data.pkl: objects nest deeper than {MAX_DEPTH}"),
            ));
        }
        if *budget == 0 {
            return Err(err(
                ErrorKind::TooLarge,
                "data.pkl: shared (memoised) objects expand to more values than the pickle could describe (memo abuse?)",
            ));
        }
        *budget -= 1;
        let i = id as usize;
        if open[i] {
            return Err(err(
                ErrorKind::Unsupported,
                "data.pkl: an object contains itself (cyclic references are not supported)",
            ));
        }
        open[i] = true;
        let list = |items: &[Id], budget: &mut u64, open: &mut [bool]| -> Result<Vec<Value>> {
            items
                .iter()
                .map(|&x| self.expand(x, depth + 1, budget, open))
                .collect()
        };
        let v = match &self.nodes[i] {
            Node::None => Value::None,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(x) => Value::Int(*x),
            Node::Big(b) => Value::BigInt(b.clone()),
            Node::Float(x) => Value::Float(*x),
            Node::Complex(a, b) => Value::Complex(*a, *b),
            Node::Str(s) => Value::Str(s.clone()),
            Node::Bytes(b) => Value::Bytes(b.clone()),
            Node::Tuple(items) => Value::Tuple(list(items, budget, open)?),
            Node::List(items) => Value::List(list(items, budget, open)?),
            Node::Set(items) => Value::Set(list(items, budget, open)?),
            Node::Dict {
                kind, items, attrs, ..
            } => {
                let pairs = |v: &[(Id, Id)], budget: &mut u64, open: &mut [bool]| {
                    v.iter()
                        .map(|&(k, x)| {
                            Ok((
                                self.expand(k, depth + 1, budget, open)?,
                                self.expand(x, depth + 1, budget, open)?,
                            ))
                        })
                        .collect::<Result<Vec<_>>>()
                };
                Value::Dict(Dict {
                    kind: *kind,
                    items: pairs(items, budget, open)?,
                    attrs: pairs(attrs, budget, open)?,
                })
            }
            Node::Global(Callable::Storage(_), name) => {
                return Err(err(
                    ErrorKind::Unsupported,
                    format!("data.pkl: the storage class {name} used as a value"),
                ))
            }
            Node::Global(_, name) => Value::Global(name.clone()),
            Node::Storage { key, .. } => {
                return Err(err(
                    ErrorKind::Unsupported,
                    format!("data.pkl: a bare storage '{key}' (not inside a tensor)"),
                ))
            }
            Node::Tensor(t) => Value::Tensor(t.clone()),
            Node::Dtype(s) => Value::Dtype(s.clone()),
            Node::Device(s) => Value::Device(s.clone()),
        };
        open[i] = false;
        Ok(v)
    }
}

/// `s` encoded as latin1 (every character must be below U+0100).
fn latin1(s: &str) -> Result<Vec<u8>> {
    s.chars()
        .map(|ch| {
            u8::try_from(u32::from(ch)).map_err(|_| {
                bad(format!(
                    "U+{:04X} cannot be encoded as latin1 (bytes are pickled as latin1 strings)",
                    u32::from(ch)
                ))
            })
        })
        .collect()
}

/// Decodes pickle's LONG1 payload (little-endian two's complement).
fn long1(b: &[u8]) -> Node {
    if b.is_empty() {
        return Node::Int(0);
    }
    // strip redundant sign bytes
    let neg = b[b.len() - 1] & 0x80 != 0;
    let fill = if neg { 0xFF } else { 0x00 };
    let mut n = b.len();
    while n > 1 && b[n - 1] == fill && (b[n - 2] & 0x80 != 0) == neg {
        n -= 1;
    }
    let b = &b[..n];
    if n <= 8 {
        let mut x = [fill; 8];
        x[..n].copy_from_slice(b);
        Node::Int(i64::from_le_bytes(x))
    } else {
        Node::Big(b.to_vec())
    }
}

/// Runs the restricted unpickler over `data` (the bytes of `data.pkl`).
///
/// Storage references are checked for their form only; that each one exists in the archive
/// with the right size, and that every tensor fits its storage, is checked by
/// [`crate::PtFile`], which knows the archive.
pub fn unpickle(data: &[u8]) -> Result<Unpickled> {
    let mut m = Machine {
        data,
        pos: 0,
        nodes: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        protocol: None,
        globals: Vec::new(),
        ops: 0,
    };
    let root = m.run()?;
    let mut budget = m.ops.saturating_mul(4).saturating_add(65_536);
    let mut open = vec![false; m.nodes.len()];
    let value = m.expand(root, 0, &mut budget, &mut open)?;
    Ok(Unpickled {
        root: value,
        protocol: m.protocol,
        globals: m.globals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long1_decoding() {
        assert!(matches!(long1(&[]), Node::Int(0)));
        assert!(matches!(long1(&[0xff]), Node::Int(-1)));
        assert!(matches!(long1(&[0x00, 0x01]), Node::Int(256)));
        assert!(matches!(long1(&[0xff, 0x00]), Node::Int(255)));
        assert!(matches!(
            long1(&[0x00, 0x00, 0x00, 0x00, 0x00]),
            Node::Int(0)
        ));
        assert!(matches!(
            long1(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Node::Int(i64::MAX)
        ));
        match long1(&[0, 0, 0, 0, 0, 0, 0, 0, 0x40]) {
            Node::Big(b) => assert_eq!(b.len(), 9),
            other => panic!("{other:?}"),
        }
    }
}
