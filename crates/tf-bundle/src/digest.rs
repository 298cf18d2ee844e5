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

/// The digest of tensor `name` of a checkpoint, streaming numeric data in bounded chunks
/// (memory stays small for any tensor size); string tensors are read whole. CRC-checked.
pub fn digest_tensor(ck: &crate::Checkpoint, name: &str) -> Result<[u8; 32], crate::Error> {
    match ck.get(name) {
        Some(info) if info.dtype != crate::DType::String => {
            let mut w = HashWriter(Sha256::new());
            ck.read_raw_to(name, &mut w)?;
            Ok(w.0.finalize().into())
        }
        _ => ck.read(name).map(|t| digest(&t)),
    }
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lowercase hex of a digest.
pub fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// [`digest`] as lowercase hex.
pub fn digest_hex(t: &Tensor) -> String {
    hex(&digest(t))
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
