//! The test vectors of docs/tf-bundle-format.md §10 that need whole files: the tiny bundle of
//! §10.4 parsed from its bytes (and rebuilt byte for byte), and the string facts of §10.5.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use common::*;
use tf_bundle::table::builder::TableOptions;
use tf_bundle::table::Table;
use tf_bundle::{bundle, Checkpoint, DType, TensorData};

const TINY_INDEX: &str = "
    00 00 06 08 01 1a 02 08 01
    00 01 0f 61 08 01 12 04 12 02 08 02 28 08 35 59 3c e5 35
    00 01 11 73 08 07 12 04 12 02 08 02 20 08 28 08 35 c8 d7 9c c9
    00 00 00 00 01 00 00 00
    00 5a e0 5f 61
    00 00 00 00 01 00 00 00
    00 c0 f2 a1 b0
    00 01 02 74 00 39 00 00 00 00 01 00 00 00
    00 08 7f 72 58
    3e 08 4b 0e
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    57 fb 80 8b 24 75 47 db";
const TINY_DATA: &str = "00 00 80 3f 00 00 00 40 02 00 78 27 0b 34 78 79";

#[test]
fn spec_10_4_tiny_bundle_parses() {
    let index = unhex(TINY_INDEX);
    assert_eq!(index.len(), 142);
    let table = Table::parse(&index).unwrap();
    assert_eq!(table.num_data_blocks(), 1);
    assert_eq!(table.index()[0].0, b"t");
    assert_eq!(
        (table.index()[0].1.offset, table.index()[0].1.size),
        (0, 57)
    );
    assert_eq!(
        (
            table.footer().metaindex.offset,
            table.footer().metaindex.size
        ),
        (62, 8)
    );
    assert_eq!(
        (table.footer().index.offset, table.footer().index.size),
        (75, 14)
    );

    let ck = Checkpoint::from_memory(&index, vec![unhex(TINY_DATA)]).unwrap();
    assert_eq!(ck.num_shards(), 1);
    let names: Vec<_> = ck.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "s"]);
    let s = ck
        .bundle()
        .unwrap()
        .entry(b"s")
        .unwrap()
        .entry
        .clone()
        .unwrap();
    assert_eq!(
        (s.dtype, s.offset, s.size, s.crc32c),
        (7, 8, 8, 0xc99c_d7c8)
    );
    let a = ck.read("a").unwrap();
    assert_eq!(a.dtype, DType::Float32);
    assert_eq!(a.shape, vec![2]);
    assert_eq!(a.data, TensorData::Bytes(unhex("0000803f00000040")));
    let s = ck.read("s").unwrap();
    assert_eq!(s.data, TensorData::Strings(vec![b"xy".to_vec(), vec![]]));
}

#[test]
fn spec_10_4_tiny_bundle_rebuilt_byte_for_byte() {
    let data = unhex(TINY_DATA);
    let (spayload, scrc) = string_payload(&[b"xy", b""], false);
    assert_eq!(spayload, data[8..]);
    assert_eq!(scrc, 0xc99c_d7c8);
    let mut s = entry(7, &[2], 0, 8, &spayload);
    s.crc32c = scrc;
    let a = entry(1, &[2], 0, 0, &data[..8]);
    assert_eq!(a.crc32c, 0x35e5_3c59);
    let built = index(
        &header(1, 0),
        &[(b"a".to_vec(), a), (b"s".to_vec(), s)],
        TableOptions::default(),
    );
    assert_eq!(built, unhex(TINY_INDEX));
}

#[test]
fn spec_10_5_string_facts() {
    // (strings, shape, size, masked crc) from the 25-dtype bundle.
    let cases: &[(&[&[u8]], u32, u32)] = &[
        (&[b"", b"a", b"bcd"], 11, 0x3f8e_4275),
        (&[], 4, 0x640c_c1f6),
        (&[b"hello"], 10, 0x29c0_e0ec),
    ];
    for &(strings, size, crc) in cases {
        let (payload, c) = string_payload(strings, false);
        assert_eq!(payload.len() as u32, size);
        assert_eq!(c, crc, "{strings:?}");
        let got =
            bundle::decode_string_tensor(&payload, strings.len() as u64, crc, false, true).unwrap();
        assert_eq!(got, strings.iter().map(|s| s.to_vec()).collect::<Vec<_>>());
        // Any single flipped byte is detected.
        for i in 0..payload.len() {
            let mut bad = payload.clone();
            bad[i] ^= 0x01;
            assert!(
                bundle::decode_string_tensor(&bad, strings.len() as u64, crc, false, true).is_err(),
                "{strings:?} byte {i}"
            );
        }
    }
    // Zero-element numeric tensor: size 0, crc mask(0).
    assert_eq!(entry(1, &[0, 3], 0, 0, &[]).crc32c, 0xa282_ead8);
    // Scalar 3.0f: crc 0xc382d6ef.
    assert_eq!(
        entry(1, &[], 0, 0, &3.0f32.to_le_bytes()).crc32c,
        0xc382_d6ef
    );
}

#[test]
fn spec_10_5_partitioned_full_entry_bytes() {
    use prost::Message;
    let want = unhex(
        "08 01 12 08 12 02 08 04 12 02 08 03 3a 06 0a 02 10 02 0a 00 3a 08 0a 04 08 02 10 02 0a 00",
    );
    let e = tf_bundle::proto::BundleEntryProto::decode(want.as_slice()).unwrap();
    let ext: Vec<_> = e.slices.iter().map(tf_bundle::slice::from_proto).collect();
    assert_eq!(ext, vec![vec![(0, 2), (0, -1)], vec![(2, 2), (0, -1)]]);
    let rebuilt = tf_bundle::proto::BundleEntryProto {
        dtype: 1,
        shape: shape(&[4, 3]),
        slices: ext.iter().map(|x| tf_bundle::slice::to_proto(x)).collect(),
        ..Default::default()
    };
    assert_eq!(rebuilt.encode_to_vec(), want);
}
