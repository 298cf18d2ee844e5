//! TensorFlow's OrderedCode (`tensorflow/core/lib/strings/ordered_code.cc`): the key encoding
//! of slice entries. Every decoder is strict (it re-encodes and compares), never panics, and
//! returns the number of bytes consumed.

/// Appends `WriteNumIncreasing(v)`: a length byte, then `v` big-endian without leading zeros.
pub fn encode_unsigned(v: u64, out: &mut Vec<u8>) {
    let bytes = v.to_be_bytes();
    let skip = (v.leading_zeros() / 8) as usize;
    out.push((8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// Decodes an unsigned number: `(value, bytes used)`, `None` if malformed or non-canonical.
pub fn decode_unsigned(buf: &[u8]) -> Option<(u64, usize)> {
    let n = usize::from(*buf.first()?);
    if n > 8 {
        return None;
    }
    let body = buf.get(1..1 + n)?;
    if n > 0 && body[0] == 0 {
        return None; // leading zero byte: not what the encoder writes
    }
    let v = body.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Some((v, n + 1))
}

/// Appends `WriteString(s)`: `00` → `00 ff`, `ff` → `ff 00`, then the terminator `00 01`.
pub fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        match b {
            0x00 => out.extend_from_slice(&[0x00, 0xff]),
            0xff => out.extend_from_slice(&[0xff, 0x00]),
            b => out.push(b),
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// Decodes a string: `(bytes, bytes used)`, `None` on a bad escape or missing terminator.
pub fn decode_string(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let b = *buf.get(i)?;
        match b {
            0x00 => match *buf.get(i + 1)? {
                0x01 => return Some((out, i + 2)),
                0xff => out.push(0x00),
                _ => return None,
            },
            0xff => match *buf.get(i + 1)? {
                0x00 => out.push(0xff),
                _ => return None,
            },
            b => {
                out.push(b);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
}

const HEADER_MASKS: [u64; 11] = [
    0,
    0x80,
    0xc000,
    0x00e0_0000,
    0xf000_0000,
    0x00f8_0000_0000,
    0xfc00_0000_0000,
    0x00fe_0000_0000_0000,
    0xff00_0000_0000_0000,
    0x8000_0000_0000_0000,
    0,
];

/// Appends `WriteSignedNumIncreasing(v)` (1 to 10 bytes).
pub fn encode_signed(v: i64, out: &mut Vec<u8>) {
    let x: u64 = if v >= 0 { v as u64 } else { !(v as u64) };
    let bits = 64 - x.leading_zeros() as usize;
    let n = ((bits + 7) / 7).max(1); // smallest n with bits <= 7n - 1
    let mut buf = [0u8; 10];
    if v < 0 {
        buf[0] = 0xff;
        buf[1] = 0xff;
    }
    buf[2..].copy_from_slice(&v.to_be_bytes());
    let kept = &mut buf[10 - n..];
    match n {
        1..=8 => kept[0] ^= [0x80, 0xc0, 0xe0, 0xf0, 0xf8, 0xfc, 0xfe, 0xff][n - 1],
        9 => {
            kept[0] ^= 0xff;
            kept[1] ^= 0x80;
        }
        _ => {
            kept[0] ^= 0xff;
            kept[1] ^= 0xc0;
        }
    }
    out.extend_from_slice(kept);
}

/// Decodes a signed number: `(value, bytes used)`, `None` if malformed or non-canonical.
pub fn decode_signed(buf: &[u8]) -> Option<(i64, usize)> {
    let first = *buf.first()?;
    let neg = first & 0x80 == 0;
    let xor = if neg { 0xff } else { 0x00 };
    let f = first ^ xor;
    let n = if f != 0xff {
        f.leading_ones() as usize
    } else {
        let s = *buf.get(1)? ^ xor;
        if s < 0x80 {
            8
        } else if s < 0xc0 {
            9
        } else if s == 0xc0 && (*buf.get(2)? ^ xor) < 0x80 {
            10
        } else {
            return None;
        }
    };
    let body = buf.get(..n)?;
    let x: u64 = if n <= 8 {
        let init = if neg { u64::MAX } else { 0 };
        body.iter().fold(init, |acc, &b| (acc << 8) | u64::from(b))
    } else {
        body[n - 8..]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    };
    let v = (x ^ HEADER_MASKS[n]) as i64;
    let mut check = Vec::with_capacity(10);
    encode_signed(v, &mut check);
    (check == body).then_some((v, n))
}

/// `EncodeTensorNameSlice`: the table key of slice `extents` (per dimension `(start, length)`,
/// `(0, -1)` = full) of tensor `name`.
pub fn encode_slice_key(name: &[u8], extents: &[(i64, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 4 + extents.len() * 4);
    encode_unsigned(0, &mut out);
    encode_string(name, &mut out);
    encode_unsigned(extents.len() as u64, &mut out);
    for &(start, length) in extents {
        encode_signed(start, &mut out);
        encode_signed(length, &mut out);
    }
    out
}

/// Decodes a slice key into `(name, extents)`; `None` unless the whole key is a well-formed
/// slice key (leading 0, name, rank, two signed numbers per dimension, nothing after).
pub fn decode_slice_key(key: &[u8]) -> Option<(Vec<u8>, crate::slice::Extents)> {
    let (zero, mut pos) = decode_unsigned(key)?;
    if zero != 0 {
        return None;
    }
    let (name, used) = decode_string(key.get(pos..)?)?;
    pos += used;
    let (rank, used) = decode_unsigned(key.get(pos..)?)?;
    pos += used;
    // Each dimension takes at least 2 bytes: bound the rank by the key length.
    if rank > (key.len() / 2) as u64 {
        return None;
    }
    let mut extents = Vec::with_capacity(rank as usize);
    for _ in 0..rank {
        let (start, used) = decode_signed(key.get(pos..)?)?;
        pos += used;
        let (length, used) = decode_signed(key.get(pos..)?)?;
        pos += used;
        extents.push((start, length));
    }
    (pos == key.len()).then_some((name, extents))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn spec_10_3_unsigned() {
        for (v, hex) in [
            (0u64, "00"),
            (1, "01 01"),
            (2, "01 02"),
            (255, "01 ff"),
            (256, "02 01 00"),
            (1 << 32, "05 01 00 00 00 00"),
            (u64::MAX, "08 ff ff ff ff ff ff ff ff"),
        ] {
            let mut out = Vec::new();
            encode_unsigned(v, &mut out);
            assert_eq!(out, unhex(hex), "{v}");
            assert_eq!(decode_unsigned(&out), Some((v, out.len())));
        }
        assert_eq!(decode_unsigned(&unhex("09 00")), None);
        assert_eq!(decode_unsigned(&unhex("02 01")), None);
        assert_eq!(decode_unsigned(&unhex("01 00")), None);
    }

    #[test]
    fn spec_10_3_strings() {
        for (s, hex) in [
            (&b""[..], "00 01"),
            (b"ab", "61 62 00 01"),
            (b"a\x00b", "61 00 ff 62 00 01"),
            (b"a\xffb", "61 ff 00 62 00 01"),
            (b"\x00\xff", "00 ff ff 00 00 01"),
        ] {
            let mut out = Vec::new();
            encode_string(s, &mut out);
            assert_eq!(out, unhex(hex));
            assert_eq!(decode_string(&out), Some((s.to_vec(), out.len())));
        }
        for bad in ["61", "00", "00 02", "ff 01", "ff"] {
            assert_eq!(decode_string(&unhex(bad)), None, "{bad}");
        }
    }

    #[test]
    fn spec_10_3_signed_table() {
        let table: &[(i64, &str)] = &[
            (0, "80"),
            (-1, "7f"),
            (1, "81"),
            (-64, "40"),
            (63, "bf"),
            (-65, "3f bf"),
            (64, "c0 40"),
            (-100, "3f 9c"),
            (100, "c0 64"),
            (-8192, "20 00"),
            (8191, "df ff"),
            (-8193, "1f df ff"),
            (8192, "e0 20 00"),
            (-(1 << 31), "07 80 00 00 00"),
            (70000, "e1 11 70"),
            (-(1 << 62) - 1, "00 3f bf ff ff ff ff ff ff ff"),
            (1_048_575, "ef ff ff"),
            (i64::MIN, "00 3f 80 00 00 00 00 00 00 00"),
            (1_048_576, "f0 10 00 00"),
            ((1 << 31) - 1, "f8 7f ff ff ff"),
            (1 << 40, "fd 00 00 00 00 00"),
            ((1 << 55) - 1, "ff 7f ff ff ff ff ff ff"),
            (1 << 55, "ff 80 80 00 00 00 00 00 00"),
            (1 << 62, "ff c0 40 00 00 00 00 00 00 00"),
            (i64::MAX - 1, "ff c0 7f ff ff ff ff ff ff fe"),
            (i64::MAX, "ff c0 7f ff ff ff ff ff ff ff"),
        ];
        for &(v, hex) in table {
            let bytes = unhex(hex);
            let mut out = Vec::new();
            encode_signed(v, &mut out);
            assert_eq!(out, bytes, "encode {v}");
            assert_eq!(decode_signed(&bytes), Some((v, bytes.len())), "decode {v}");
            let mut longer = bytes.clone();
            longer.push(0x42);
            assert_eq!(decode_signed(&longer), Some((v, bytes.len())));
            assert_eq!(decode_signed(&bytes[..bytes.len() - 1]), None);
        }
    }

    #[test]
    fn spec_4_4_slice_keys() {
        type Case<'a> = (&'a [u8], &'a [(i64, i64)], &'a str);
        let cases: &[Case] = &[
            (b"w", &[(0, 2), (0, -1)], "00 77 00 01 01 02 80 82 80 7f"),
            (
                b"ps/emb",
                &[(3, 2), (0, 2)],
                "00 70 73 2f 65 6d 62 00 01 01 02 83 82 80 82",
            ),
            (b"n", &[], "00 6e 00 01 00"),
            (
                b"layer/k",
                &[(10, 5), (0, -1), (1000, 24)],
                "00 6c 61 79 65 72 2f 6b 00 01 01 03 8a 85 80 7f c3 e8 98",
            ),
            (b"w", &[(0, -1), (0, -1)], "00 77 00 01 01 02 80 7f 80 7f"),
            (b"s", &[(0, -1)], "00 73 00 01 01 01 80 7f"),
        ];
        for &(name, ext, hex) in cases {
            let key = encode_slice_key(name, ext);
            assert_eq!(key, unhex(hex));
            assert_eq!(decode_slice_key(&key), Some((name.to_vec(), ext.to_vec())));
            let mut trailing = key.clone();
            trailing.push(0);
            assert_eq!(decode_slice_key(&trailing), None);
        }
    }

    proptest::proptest! {
        #[test]
        fn signed_round_trip(v: i64) {
            let mut out = Vec::new();
            encode_signed(v, &mut out);
            proptest::prop_assert_eq!(decode_signed(&out), Some((v, out.len())));
        }
        #[test]
        fn unsigned_round_trip(v: u64) {
            let mut out = Vec::new();
            encode_unsigned(v, &mut out);
            proptest::prop_assert_eq!(decode_unsigned(&out), Some((v, out.len())));
        }
        #[test]
        fn string_round_trip(s: Vec<u8>) {
            let mut out = Vec::new();
            encode_string(&s, &mut out);
            proptest::prop_assert_eq!(decode_string(&out), Some((s, out.len())));
        }
        #[test]
        fn decoders_never_panic(b: Vec<u8>) {
            let _ = decode_signed(&b);
            let _ = decode_unsigned(&b);
            let _ = decode_string(&b);
            let _ = decode_slice_key(&b);
        }
    }
}
