//! `convert --to tf` on malformed or hostile safetensors input: a clear error, nothing written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use convert::select::Selection;

fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn malformed_inputs_are_errors_and_leave_nothing() {
    let ok_header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("short", vec![1, 2, 3], "too short"),
        ("huge header length", huge, "header length"),
        ("not json", file("{nope", &[]), "invalid header"),
        ("data missing", file(ok_header, &[0; 4]), "data bytes"),
        ("data too long", file(ok_header, &[0; 12]), "data bytes"),
        (
            "offsets do not tile",
            file(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &[0; 8],
            ),
            "invalid header",
        ),
        (
            "size does not match shape",
            file(
                r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
            "invalid header",
        ),
        (
            "unknown dtype",
            file(
                r#"{"a":{"dtype":"X9","shape":[1],"data_offsets":[0,1]}}"#,
                &[0],
            ),
            "invalid header",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, bytes, expect) in cases {
        let input = dir.path().join("in.safetensors");
        std::fs::write(&input, &bytes).unwrap();
        let out_dir = dir.path().join("out");
        std::fs::create_dir_all(&out_dir).unwrap();
        let err = convert::to_tf::safetensors_to_tf(
            &input,
            &out_dir.join("b"),
            &Selection::default(),
            false,
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(err.kind().label(), "safetensors", "{what}: {err}");
        assert!(err.to_string().contains(expect), "{what}: {err}");
        assert!(err.to_string().contains("in.safetensors"), "{what}: {err}");
        assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0, "{what}");
    }
    // a valid file converts
    let input = dir.path().join("good.safetensors");
    std::fs::write(&input, file(ok_header, &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40])).unwrap();
    let out = dir.path().join("good");
    let r =
        convert::to_tf::safetensors_to_tf(&input, &out, &Selection::default(), true, &mut |_| {})
            .unwrap();
    assert_eq!(r.tensors.len(), 1);
    let c = tf_bundle::Checkpoint::open(&out).unwrap();
    assert_eq!(
        c.read("a").unwrap().data,
        tf_bundle::TensorData::Bytes(vec![0, 0, 0x80, 0x3f, 0, 0, 0, 0x40])
    );
}
