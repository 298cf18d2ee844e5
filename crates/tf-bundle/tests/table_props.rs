//! Property tests: the table builder round-trips through the parser for any sorted entries
//! and options (small blocks, any restart interval, snappy or not); parsers never panic on
//! arbitrary bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use tf_bundle::table::builder::{TableBuilder, TableOptions};
use tf_bundle::table::{Table, NO_COMPRESSION, SNAPPY};
use tf_bundle::Checkpoint;

fn entries() -> impl Strategy<Value = BTreeMap<Vec<u8>, Vec<u8>>> {
    proptest::collection::btree_map(
        proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'b'), Just(0u8), Just(0xffu8), any::<u8>()],
            0..24,
        ),
        proptest::collection::vec(any::<u8>(), 0..64),
        0..80,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn table_round_trip(
        kv in entries(),
        block_size in 16usize..2048,
        restart_interval in 1usize..20,
        snappy in any::<bool>(),
    ) {
        let opts = TableOptions {
            block_size,
            restart_interval,
            compression: if snappy { SNAPPY } else { NO_COMPRESSION },
        };
        let mut b = TableBuilder::new(opts);
        for (k, v) in &kv {
            b.add(k, v).unwrap();
        }
        let bytes = b.finish();
        let t = Table::parse(&bytes).unwrap();
        let got = t.entries(&bytes).unwrap();
        let want: Vec<(Vec<u8>, Vec<u8>)> = kv.clone().into_iter().collect();
        prop_assert_eq!(&got, &want);
        for (k, v) in &kv {
            prop_assert_eq!(t.get(&bytes, k).unwrap(), Some(v.clone()));
        }
        let mut absent = kv.keys().next().cloned().unwrap_or_default();
        absent.push(0x42);
        if !kv.contains_key(&absent) {
            prop_assert_eq!(t.get(&bytes, &absent).unwrap(), None);
        }
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), tail in any::<bool>()) {
        // Random bytes, optionally ending in a valid footer magic to get past the first check.
        let mut b = bytes;
        if tail {
            b.extend_from_slice(&[0u8; 40]);
            b.extend_from_slice(&0xdb47_7524_8b80_fb57u64.to_le_bytes());
        }
        if let Ok(t) = Table::parse(&b) {
            let _ = t.entries(&b);
        }
        if let Ok(ck) = Checkpoint::from_memory(&b, vec![b.clone()]) {
            let _ = ck.verify_all();
        }
        let _ = Checkpoint::from_memory_v1(vec![b.clone()]);
        let _ = tf_bundle::bundle::decode_string_tensor(&b, 3, 0, false, true);
        let _ = tf_bundle::table::decompress(&b, "fuzz");
    }
}
