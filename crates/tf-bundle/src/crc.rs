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

/// The reflected CRC32C polynomial.
const POLY: u32 = 0x82f6_3b78;

/// `a · b mod P` over GF(2) (bit-reflected, as zlib's `multmodp`).
fn multmodp(a: u32, mut b: u32) -> u32 {
    let mut m = 1u32 << 31;
    let mut p = 0u32;
    loop {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                break;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
    p
}

/// `x^(2^k) mod P` for k = 0..32.
const X2N: [u32; 32] = {
    let mut t = [0u32; 32];
    let mut p = 1u32 << 30; // x^1
    let mut k = 0;
    while k < 32 {
        t[k] = p;
        // p = p * p mod P (multmodp, const)
        let (a, mut b) = (p, p);
        let mut m = 1u32 << 31;
        let mut r = 0u32;
        loop {
            if a & m != 0 {
                r ^= b;
                if a & (m - 1) == 0 {
                    break;
                }
            }
            m >>= 1;
            b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
        }
        p = r;
        k += 1;
    }
    t
};

/// Combines CRCs: `combine(crc32c(a), crc32c(b), b.len()) == crc32c(a ‖ b)`, in O(log len)
/// cheap steps (zlib's method; the parallel jobs combine per-chunk CRCs with it).
pub fn combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    // x^(8·len_b) mod P, then multiply
    let mut p = 1u32 << 31; // x^0
    let mut n = len_b;
    let mut k = 3usize;
    while n != 0 {
        if n & 1 != 0 {
            p = multmodp(X2N[k & 31], p);
        }
        n >>= 1;
        k += 1;
    }
    multmodp(p, crc_a) ^ crc_b
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
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 37 % 256) as u8).collect();
        for cut in [0usize, 1, 7, 64, 1000, 4999, 5000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(
                combine(crc32c(a), crc32c(b), b.len() as u64),
                crc32c(&data),
                "{cut}"
            );
            assert_eq!(
                combine(crc32c(a), crc32c(b), b.len() as u64),
                crc32c::crc32c_combine(crc32c(a), crc32c(b), b.len()),
            );
        }
    }
}
