//! The TF ↔ safetensors dtype mapping (fixtures/README.md "expected.safetensors").
//!
//! | TF | safetensors |
//! |---|---|
//! | float16, bfloat16, float32, float64 | F16, BF16, F32, F64 (bytes untouched, never via f32) |
//! | int8, int16, int32, int64 | I8, I16, I32, I64 |
//! | uint8, uint16, uint32, uint64 | U8, U16, U32, U64 |
//! | bool | BOOL (one byte, 0/1) |
//! | float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz | F8_E4M3, F8_E5M2, F8_E4M3FNUZ, F8_E5M2FNUZ — only with [`safetensors_dtype_with_float8`] (`--float8`) |
//! | string, complex64/128, qint*/quint*, float8_e4m3b11fnuz, int4/uint4/int2/uint2, float4 | none: skipped |
//!
//! Complex numbers are skipped although safetensors 0.8 has `C64`: Python's
//! `safetensors.numpy`/`torch` loaders of the versions RETURNN users run do not all know it, and
//! a silent reinterpretation as real pairs would be worse than a skip.

use safetensors::Dtype;
use tf_bundle::DType;

/// The safetensors dtype for a TF dtype, or `None` if the tensor must be skipped.
pub fn safetensors_dtype(d: DType) -> Option<Dtype> {
    Some(match d {
        DType::Float16 => Dtype::F16,
        DType::BFloat16 => Dtype::BF16,
        DType::Float32 => Dtype::F32,
        DType::Float64 => Dtype::F64,
        DType::Int8 => Dtype::I8,
        DType::Int16 => Dtype::I16,
        DType::Int32 => Dtype::I32,
        DType::Int64 => Dtype::I64,
        DType::UInt8 => Dtype::U8,
        DType::UInt16 => Dtype::U16,
        DType::UInt32 => Dtype::U32,
        DType::UInt64 => Dtype::U64,
        DType::Bool => Dtype::BOOL,
        _ => return None,
    })
}

/// Like [`safetensors_dtype`], plus the float8 types safetensors has (`--float8`).
pub fn safetensors_dtype_with_float8(d: DType) -> Option<Dtype> {
    Some(match d {
        DType::Float8E4M3FN => Dtype::F8_E4M3,
        DType::Float8E5M2 => Dtype::F8_E5M2,
        DType::Float8E4M3FNUZ => Dtype::F8_E4M3FNUZ,
        DType::Float8E5M2FNUZ => Dtype::F8_E5M2FNUZ,
        other => return safetensors_dtype(other),
    })
}

/// The TF dtype for a safetensors dtype (for `convert --to tf`), or `None` if TF has none
/// (F4, F6_*, F8_E8M0) — C64 maps to complex64.
pub fn tf_dtype(d: Dtype) -> Option<DType> {
    Some(match d {
        Dtype::F16 => DType::Float16,
        Dtype::BF16 => DType::BFloat16,
        Dtype::F32 => DType::Float32,
        Dtype::F64 => DType::Float64,
        Dtype::I8 => DType::Int8,
        Dtype::I16 => DType::Int16,
        Dtype::I32 => DType::Int32,
        Dtype::I64 => DType::Int64,
        Dtype::U8 => DType::UInt8,
        Dtype::U16 => DType::UInt16,
        Dtype::U32 => DType::UInt32,
        Dtype::U64 => DType::UInt64,
        Dtype::BOOL => DType::Bool,
        Dtype::F8_E4M3 => DType::Float8E4M3FN,
        Dtype::F8_E5M2 => DType::Float8E5M2,
        Dtype::F8_E4M3FNUZ => DType::Float8E4M3FNUZ,
        Dtype::F8_E5M2FNUZ => DType::Float8E5M2FNUZ,
        Dtype::C64 => DType::Complex64,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_mapping_and_round_trip() {
        let table = [
            (DType::Float16, Some(Dtype::F16)),
            (DType::BFloat16, Some(Dtype::BF16)),
            (DType::Float32, Some(Dtype::F32)),
            (DType::Float64, Some(Dtype::F64)),
            (DType::Int8, Some(Dtype::I8)),
            (DType::Int16, Some(Dtype::I16)),
            (DType::Int32, Some(Dtype::I32)),
            (DType::Int64, Some(Dtype::I64)),
            (DType::UInt8, Some(Dtype::U8)),
            (DType::UInt16, Some(Dtype::U16)),
            (DType::UInt32, Some(Dtype::U32)),
            (DType::UInt64, Some(Dtype::U64)),
            (DType::Bool, Some(Dtype::BOOL)),
            (DType::String, None),
            (DType::Complex64, None),
            (DType::Complex128, None),
            (DType::QInt8, None),
            (DType::QUInt16, None),
            (DType::QInt32, None),
            (DType::Float8E4M3FN, None),
            (DType::Int4, None),
        ];
        for (tf, st) in table {
            assert_eq!(safetensors_dtype(tf), st, "{tf}");
            if let Some(st) = st {
                assert_eq!(tf_dtype(st), Some(tf));
                assert_eq!(st.bitsize(), 8 * tf.element_size().unwrap(), "{tf}");
            }
        }
        assert_eq!(
            safetensors_dtype_with_float8(DType::Float8E4M3FN),
            Some(Dtype::F8_E4M3)
        );
        assert_eq!(
            safetensors_dtype_with_float8(DType::Float8E5M2),
            Some(Dtype::F8_E5M2)
        );
        assert_eq!(
            safetensors_dtype_with_float8(DType::Float8E4M3B11FNUZ),
            None
        );
        assert_eq!(tf_dtype(Dtype::F4), None);
    }
}
