//! The dtype conversion of torch's `Tensor.copy_` (what `load_state_dict` does when a
//! checkpoint tensor has another dtype than the parameter, T-DTYPE-1).
//!
//! It equals numpy's `astype` ([`Array::cast`]) except: float64 -> float16 goes through
//! float32 (torch's `c10::Half` is built from a float, so it rounds twice: `1 + 2^-11 + 2^-40`
//! becomes `1.0`, numpy gives `1 + 2^-10`), and bool converts both ways (`x != 0`; 0 / 1).

use tf_bundle::DType;

use crate::array::{castable, Array};
use crate::error::{MapError, MapErrorKind};

/// `param.copy_(value)` for a parameter of dtype `to`.
pub fn torch_cast(a: Array, to: DType) -> Result<Array, MapError> {
    if a.dtype == to {
        return Ok(a);
    }
    match (a.dtype, to) {
        (DType::Float64, DType::Float16) => a.cast(DType::Float32)?.cast(DType::Float16),
        (from, DType::Bool) if castable(from) => {
            let f = a.clone().cast(DType::Float64)?;
            let data = f
                .data
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    u8::from(f64::from_le_bytes(b) != 0.0)
                })
                .collect();
            Array::new(DType::Bool, a.shape, data)
        }
        (DType::Bool, to) if castable(to) => {
            let as_u8 = Array::new(DType::UInt8, a.shape, a.data)?;
            as_u8.cast(to)
        }
        _ => a.cast(to).map_err(|e| {
            MapError::new(
                MapErrorKind::DtypeMismatch,
                format!("torch copy_: {}", e.message()),
            )
        }),
    }
}
