//! The element types a `.pt` storage may hold here (docs/pt-format.md §5).

use std::fmt;

/// An element type of a torch tensor that this crate reads and writes.
///
/// Storages of any other element type (complex, quantized, uint16/32/64, float8, ...) are refused
/// with [`crate::ErrorKind::UnsupportedDtype`] naming torch's storage class or dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F16,
    BF16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    Bool,
}

impl DType {
    /// Every supported dtype.
    pub const ALL: [DType; 10] = [
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::Bool,
    ];

    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }

    /// torch's legacy storage class (`GLOBAL torch <name>` in `data.pkl`).
    pub fn storage_class(self) -> &'static str {
        match self {
            DType::F16 => "HalfStorage",
            DType::BF16 => "BFloat16Storage",
            DType::F32 => "FloatStorage",
            DType::F64 => "DoubleStorage",
            DType::I8 => "CharStorage",
            DType::I16 => "ShortStorage",
            DType::I32 => "IntStorage",
            DType::I64 => "LongStorage",
            DType::U8 => "ByteStorage",
            DType::Bool => "BoolStorage",
        }
    }

    /// The dtype of a legacy storage class name (`FloatStorage` -> f32).
    pub fn from_storage_class(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.storage_class() == name)
    }

    /// torch's dtype name without the module (`float32`), as `str(torch.float32)` minus `torch.`.
    /// Also the name the fixtures' manifests use.
    pub fn name(self) -> &'static str {
        match self {
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::Bool => "bool",
        }
    }

    /// The dtype of a torch dtype attribute name (`float32`, also torch's aliases `float`,
    /// `half`, `double`, `long`, `int`, `short`).
    pub fn from_name(name: &str) -> Option<DType> {
        let alias = match name {
            "float" => "float32",
            "half" => "float16",
            "double" => "float64",
            "long" => "int64",
            "int" => "int32",
            "short" => "int16",
            other => other,
        };
        DType::ALL.into_iter().find(|d| d.name() == alias)
    }

    /// The safetensors dtype name (`F32`, `BF16`, `BOOL`, ...).
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F32 => "F32",
            DType::F64 => "F64",
            DType::I8 => "I8",
            DType::I16 => "I16",
            DType::I32 => "I32",
            DType::I64 => "I64",
            DType::U8 => "U8",
            DType::Bool => "BOOL",
        }
    }

    /// True for the floating-point dtypes.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The names of the supported storage classes, for error messages.
pub(crate) fn supported_storage_classes() -> String {
    DType::ALL
        .iter()
        .map(|d| d.storage_class())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_storage_class(d.storage_class()), Some(d));
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
        assert_eq!(DType::from_name("float"), Some(DType::F32));
        assert_eq!(DType::from_name("long"), Some(DType::I64));
        assert_eq!(DType::from_storage_class("ComplexFloatStorage"), None);
        assert_eq!(DType::from_name("uint16"), None);
        let sizes: Vec<u64> = DType::ALL.iter().map(|d| d.size()).collect();
        assert_eq!(sizes, [2, 2, 4, 8, 1, 2, 4, 8, 1, 1]);
    }
}
