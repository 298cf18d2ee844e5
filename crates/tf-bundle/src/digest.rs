//! The tensor digest of the fixtures' manifests (fixtures/README.md, "Digests").

use sha2::{Digest, Sha256};

use crate::{Tensor, TensorData};

/// sha256 of a tensor: numeric tensors hash their raw little-endian bytes in C order; string
/// tensors hash, per element in C order, the byte length as u64 little-endian followed by the
/// bytes.
pub fn digest(t: &Tensor) -> [u8; 32] {
    let mut h = Sha256::new();
    match &t.data {
        TensorData::Bytes(b) => h.update(b),
        TensorData::Strings(v) => {
            for s in v {
                h.update((s.len() as u64).to_le_bytes());
                h.update(s);
            }
        }
    }
    h.finalize().into()
}

/// [`digest`] as lowercase hex.
pub fn digest_hex(t: &Tensor) -> String {
    digest(t).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    #[test]
    fn digests() {
        let empty = Tensor {
            dtype: DType::Float32,
            shape: vec![0],
            data: TensorData::Bytes(vec![]),
        };
        assert_eq!(
            digest_hex(&empty),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let s = Tensor {
            dtype: DType::String,
            shape: vec![],
            data: TensorData::Strings(vec![vec![]]),
        };
        // sha256 of eight zero bytes.
        assert_eq!(
            digest_hex(&s),
            "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc"
        );
    }
}
