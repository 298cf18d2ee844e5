//! LEB128 varints (protobuf / LevelDB style) and little-endian fixed-width integers.

/// Decodes a varint64 at the start of `buf`: `(value, bytes used)`, or `None` if the input
/// ends inside the varint or it is longer than 10 bytes / overflows 64 bits.
pub fn decode_u64(buf: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return None; // would overflow 64 bits
        }
        v |= part << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Decodes a varint32 (at most 5 bytes, value < 2^32).
pub fn decode_u32(buf: &[u8]) -> Option<(u32, usize)> {
    let mut v: u32 = 0;
    for (i, &b) in buf.iter().enumerate().take(5) {
        let part = u32::from(b & 0x7f);
        if i == 4 && b > 0x0f {
            return None;
        }
        v |= part << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Appends the varint encoding of `v`.
pub fn encode_u64(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Number of bytes [`encode_u64`] appends for `v`.
pub fn encoded_len(mut v: u64) -> u64 {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Reads a little-endian u32 at `pos`, if 4 bytes are there.
pub fn fixed32(buf: &[u8], pos: usize) -> Option<u32> {
    let b = buf.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian u64 at `pos`, if 8 bytes are there.
pub fn fixed64(buf: &[u8], pos: usize) -> Option<u64> {
    let b = buf.get(pos..pos.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/tf-bundle-format.md §10.2.
    const VECTORS: &[(u64, &str)] = &[
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (300, "ac02"),
        (16383, "ff7f"),
        (16384, "808001"),
        ((1 << 32) - 1, "ffffffff0f"),
        (1 << 32, "8080808010"),
        (1 << 63, "80808080808080808001"),
        (u64::MAX, "ffffffffffffffffff01"),
    ];

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn spec_10_2_varints() {
        for &(v, hex) in VECTORS {
            let bytes = unhex(hex);
            let mut out = Vec::new();
            encode_u64(v, &mut out);
            assert_eq!(out, bytes, "encode {v}");
            assert_eq!(encoded_len(v), bytes.len() as u64, "length {v}");
            assert_eq!(decode_u64(&bytes), Some((v, bytes.len())), "decode {v}");
            if v <= u64::from(u32::MAX) {
                assert_eq!(decode_u32(&bytes), Some((v as u32, bytes.len())));
            } else {
                assert_eq!(decode_u32(&bytes), None);
            }
        }
    }

    #[test]
    fn bad_varints() {
        assert_eq!(decode_u64(&[]), None);
        assert_eq!(decode_u64(&[0x80]), None);
        assert_eq!(decode_u64(&[0xff; 10]), None);
        assert_eq!(decode_u64(&unhex("ffffffffffffffffff02")), None);
        assert_eq!(decode_u32(&unhex("ffffffff1f")), None);
    }
}
