//! TensorFlow data types as stored in checkpoints (`types.proto`'s `DataType`).

use std::fmt;

/// A dtype that a checkpoint can store and this crate can read.
///
/// `DT_RESOURCE`, `DT_VARIANT`, `*_REF` and `DT_INVALID` are deliberately absent: they are
/// reported as [`UnsupportedDtype`] instead (TensorFlow aborts the process on some of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DType {
    Float32,
    Float64,
    Int32,
    UInt8,
    Int16,
    Int8,
    String,
    Complex64,
    Int64,
    Bool,
    QInt8,
    QUInt8,
    QInt32,
    BFloat16,
    QInt16,
    QUInt16,
    UInt16,
    Complex128,
    Float16,
    UInt32,
    UInt64,
    Float8E5M2,
    Float8E4M3FN,
    Float8E4M3FNUZ,
    Float8E4M3B11FNUZ,
    Float8E5M2FNUZ,
    Int4,
    UInt4,
    Int2,
    UInt2,
    Float4E2M1FN,
}

/// A `DataType` enum value that is not a storable dtype (variant, resource, ref, invalid, or
/// unknown to this version).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsupportedDtype(pub i32);

impl fmt::Display for UnsupportedDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.0 {
            0 => "DT_INVALID",
            20 => "DT_RESOURCE",
            21 => "DT_VARIANT",
            101..=133 => "a *_REF dtype",
            _ => "unknown",
        };
        write!(f, "unsupported dtype {} ({what})", self.0)
    }
}

impl std::error::Error for UnsupportedDtype {}

/// Every storable dtype, in `DataType` enum order.
pub const ALL_DTYPES: [DType; 31] = [
    DType::Float32,
    DType::Float64,
    DType::Int32,
    DType::UInt8,
    DType::Int16,
    DType::Int8,
    DType::String,
    DType::Complex64,
    DType::Int64,
    DType::Bool,
    DType::QInt8,
    DType::QUInt8,
    DType::QInt32,
    DType::BFloat16,
    DType::QInt16,
    DType::QUInt16,
    DType::UInt16,
    DType::Complex128,
    DType::Float16,
    DType::UInt32,
    DType::UInt64,
    DType::Float8E5M2,
    DType::Float8E4M3FN,
    DType::Float8E4M3FNUZ,
    DType::Float8E4M3B11FNUZ,
    DType::Float8E5M2FNUZ,
    DType::Int4,
    DType::UInt4,
    DType::Int2,
    DType::UInt2,
    DType::Float4E2M1FN,
];

impl DType {
    /// Decodes the on-disk `DataType` value.
    pub fn from_proto(v: i32) -> Result<DType, UnsupportedDtype> {
        use DType::*;
        Ok(match v {
            1 => Float32,
            2 => Float64,
            3 => Int32,
            4 => UInt8,
            5 => Int16,
            6 => Int8,
            7 => String,
            8 => Complex64,
            9 => Int64,
            10 => Bool,
            11 => QInt8,
            12 => QUInt8,
            13 => QInt32,
            14 => BFloat16,
            15 => QInt16,
            16 => QUInt16,
            17 => UInt16,
            18 => Complex128,
            19 => Float16,
            22 => UInt32,
            23 => UInt64,
            24 => Float8E5M2,
            25 => Float8E4M3FN,
            26 => Float8E4M3FNUZ,
            27 => Float8E4M3B11FNUZ,
            28 => Float8E5M2FNUZ,
            29 => Int4,
            30 => UInt4,
            31 => Int2,
            32 => UInt2,
            33 => Float4E2M1FN,
            other => return Err(UnsupportedDtype(other)),
        })
    }

    /// The on-disk `DataType` value.
    pub fn to_proto(self) -> i32 {
        use DType::*;
        match self {
            Float32 => 1,
            Float64 => 2,
            Int32 => 3,
            UInt8 => 4,
            Int16 => 5,
            Int8 => 6,
            String => 7,
            Complex64 => 8,
            Int64 => 9,
            Bool => 10,
            QInt8 => 11,
            QUInt8 => 12,
            QInt32 => 13,
            BFloat16 => 14,
            QInt16 => 15,
            QUInt16 => 16,
            UInt16 => 17,
            Complex128 => 18,
            Float16 => 19,
            UInt32 => 22,
            UInt64 => 23,
            Float8E5M2 => 24,
            Float8E4M3FN => 25,
            Float8E4M3FNUZ => 26,
            Float8E4M3B11FNUZ => 27,
            Float8E5M2FNUZ => 28,
            Int4 => 29,
            UInt4 => 30,
            Int2 => 31,
            UInt2 => 32,
            Float4E2M1FN => 33,
        }
    }

    /// The name used by TensorFlow's Python API / numpy / ml_dtypes, and by the fixtures'
    /// manifests (`float32`, `bfloat16`, `string`, `qint8`, `float8_e4m3fn`, ...).
    pub fn name(self) -> &'static str {
        use DType::*;
        match self {
            Float32 => "float32",
            Float64 => "float64",
            Int32 => "int32",
            UInt8 => "uint8",
            Int16 => "int16",
            Int8 => "int8",
            String => "string",
            Complex64 => "complex64",
            Int64 => "int64",
            Bool => "bool",
            QInt8 => "qint8",
            QUInt8 => "quint8",
            QInt32 => "qint32",
            BFloat16 => "bfloat16",
            QInt16 => "qint16",
            QUInt16 => "quint16",
            UInt16 => "uint16",
            Complex128 => "complex128",
            Float16 => "float16",
            UInt32 => "uint32",
            UInt64 => "uint64",
            Float8E5M2 => "float8_e5m2",
            Float8E4M3FN => "float8_e4m3fn",
            Float8E4M3FNUZ => "float8_e4m3fnuz",
            Float8E4M3B11FNUZ => "float8_e4m3b11fnuz",
            Float8E5M2FNUZ => "float8_e5m2fnuz",
            Int4 => "int4",
            UInt4 => "uint4",
            Int2 => "int2",
            UInt2 => "uint2",
            Float4E2M1FN => "float4_e2m1fn",
        }
    }

    /// Parses a name as produced by [`DType::name`] (also accepts `half`, `float`, `double`).
    pub fn from_name(name: &str) -> Option<DType> {
        match name {
            "half" => return Some(DType::Float16),
            "float" => return Some(DType::Float32),
            "double" => return Some(DType::Float64),
            _ => {}
        }
        ALL_DTYPES.iter().copied().find(|d| d.name() == name)
    }

    /// Bytes per element of the stored payload; `None` for `string` (variable length).
    /// Sub-byte types (int4, uint4, int2, uint2, float4) are stored unpacked, one byte each.
    pub fn element_size(self) -> Option<usize> {
        use DType::*;
        Some(match self {
            String => return None,
            Int8 | UInt8 | Bool | QInt8 | QUInt8 | Float8E5M2 | Float8E4M3FN | Float8E4M3FNUZ
            | Float8E4M3B11FNUZ | Float8E5M2FNUZ | Int4 | UInt4 | Int2 | UInt2 | Float4E2M1FN => 1,
            Int16 | UInt16 | QInt16 | QUInt16 | Float16 | BFloat16 => 2,
            Int32 | UInt32 | QInt32 | Float32 => 4,
            Int64 | UInt64 | Float64 | Complex64 => 8,
            Complex128 => 16,
        })
    }

    /// The unit in which a big-endian payload must be byte-swapped to become little-endian
    /// (complex numbers swap per component). 1 means "no swap".
    pub fn swap_unit(self) -> usize {
        match self {
            DType::Complex64 => 4,
            DType::Complex128 => 8,
            other => other.element_size().unwrap_or(1),
        }
    }

    /// True for IEEE-like floating-point dtypes of at least 16 bits (those `avg` averages and
    /// `--stats` treats as real numbers).
    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::Float16 | DType::BFloat16 | DType::Float32 | DType::Float64
        )
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Reverses the byte order of every `unit`-byte group.
pub fn swap_in_place(data: &mut [u8], unit: usize) {
    if unit > 1 {
        for c in data.chunks_exact_mut(unit) {
            c.reverse();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_values_round_trip_and_names_are_unique() {
        for d in ALL_DTYPES {
            assert_eq!(DType::from_proto(d.to_proto()), Ok(d));
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
        let mut names: Vec<_> = ALL_DTYPES.iter().map(|d| d.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL_DTYPES.len());
    }

    #[test]
    fn unstorable_dtypes_are_errors() {
        for v in [0, 20, 21, 34, 99, 101, 119, -1] {
            assert_eq!(DType::from_proto(v), Err(UnsupportedDtype(v)));
        }
    }

    #[test]
    fn element_sizes() {
        assert_eq!(DType::Float16.element_size(), Some(2));
        assert_eq!(DType::Complex128.element_size(), Some(16));
        assert_eq!(DType::Int4.element_size(), Some(1));
        assert_eq!(DType::String.element_size(), None);
        assert_eq!(DType::Complex64.swap_unit(), 4);
    }
}
