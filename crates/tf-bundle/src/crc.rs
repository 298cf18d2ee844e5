//! CRC32C (Castagnoli, hardware-accelerated by the `crc32c` crate) and TF's masking.

/// TF's `kMaskDelta`.
pub const MASK_DELTA: u32 = 0xa282_ead8;

/// CRC32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// Continues a CRC32C: `extend(crc32c(a), b) == crc32c(a ‖ b)`.
pub fn extend(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

/// TF's `Mask`: rotate right by 15, add the delta.
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// TF's `Unmask`, the inverse of [`mask`].
pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_10_1_crc_and_mask() {
        let bytes_0_31: Vec<u8> = (0u8..32).collect();
        let cases: &[(&[u8], u32, u32)] = &[
            (b"", 0x0000_0000, 0xa282_ead8),
            (b"123456789", 0xe306_9283, 0xc78a_b0e5),
            (b"a", 0xc1d0_4330, 0x28e4_6e78),
            (b"hello", 0x9a71_bb4c, 0x191c_1fbb),
            (&[0u8; 32], 0x8a91_36aa, 0x0fd7_fffa),
            (&bytes_0_31, 0x46dd_794e, 0x951f_7892),
            (&[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40], 0x28c0_c9b1, 0x35e5_3c59),
            (&[0, 0, 0, 0, 1, 0, 0, 0, 0], 0x83f4_070f, 0xb0a1_f2c0),
        ];
        for &(input, crc, masked) in cases {
            assert_eq!(crc32c(input), crc, "{input:?}");
            assert_eq!(mask(crc), masked, "{input:?}");
            assert_eq!(unmask(masked), crc, "{input:?}");
        }
        assert_eq!(unmask(0xa282_ead8), 0);
        assert_eq!(extend(crc32c(b"1234"), b"56789"), 0xe306_9283);
    }
}
