//! Golden test: every checkpoint of every `fixtures/*/manifest.json` is opened and compared
//! with its manifest (tensor list, dtypes, shapes, digests, values, index facts) and with its
//! `*.index_entries.json` (every raw table entry). V1 checkpoints (`"format": "v1"`) have no
//! index: their manifest says `"index": null` and `"index_entries_file": null`, and only the
//! index checks are skipped for them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use tf_bundle::{digest, ordered_code, slice, Checkpoint, DType, TensorData};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn manifests() -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let dir = e.unwrap().path();
        let m = dir.join("manifest.json");
        if m.is_file() {
            let v: Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
            out.push((dir, v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 10,
        "expected the fixture set, found {} manifests",
        out.len()
    );
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn shape_of(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect()
}

/// Decodes one float of a dtype from its little-endian bytes as f64 (for `values`).
fn float_value(dtype: DType, b: &[u8]) -> f64 {
    match dtype {
        DType::Float32 => f32::from_le_bytes(b.try_into().unwrap()) as f64,
        DType::Float64 => f64::from_le_bytes(b.try_into().unwrap()),
        DType::Float16 => f16_to_f64(u16::from_le_bytes(b.try_into().unwrap())),
        DType::BFloat16 => {
            f32::from_bits(u32::from(u16::from_le_bytes(b.try_into().unwrap())) << 16) as f64
        }
        DType::Float8E4M3FN => f8_e4m3fn(b[0]),
        DType::Float8E5M2 => f16_to_f64(u16::from(b[0]) << 8),
        _ => unreachable!(),
    }
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = (h >> 10) & 0x1f;
    let man = f64::from(h & 0x3ff);
    match exp {
        0 => sign * man * 2f64.powi(-24),
        31 if man == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + man / 1024.0) * 2f64.powi(i32::from(e) - 15),
    }
}

fn f8_e4m3fn(b: u8) -> f64 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = (b >> 3) & 0xf;
    let man = f64::from(b & 7);
    if exp == 0xf && b & 7 == 7 {
        return f64::NAN;
    }
    if exp == 0 {
        sign * man / 8.0 * 2f64.powi(-6)
    } else {
        sign * (1.0 + man / 8.0) * 2f64.powi(i32::from(exp) - 7)
    }
}

fn parse_float(s: &str) -> f64 {
    match s {
        "nan" => f64::NAN,
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap(),
    }
}

fn same_float(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a == b && a.is_sign_negative() == b.is_sign_negative())
}

/// Checks `values` (manifest encoding) against the tensor data.
fn check_values(ctx: &str, dtype: DType, data: &TensorData, values: &[Value]) {
    match data {
        TensorData::Strings(s) => {
            assert_eq!(s.len(), values.len(), "{ctx}: element count");
            for (i, (got, want)) in s.iter().zip(values).enumerate() {
                assert_eq!(hex(got), want.as_str().unwrap(), "{ctx}: element {i}");
            }
        }
        TensorData::Bytes(b) => {
            let es = dtype.element_size().unwrap();
            assert_eq!(b.len(), values.len() * es, "{ctx}: element count");
            for (i, (chunk, want)) in b.chunks(es).zip(values).enumerate() {
                let ok = match dtype {
                    DType::Bool => want.as_bool().unwrap() == (chunk[0] != 0),
                    DType::Complex64 | DType::Complex128 => {
                        let h = es / 2;
                        let pair = want.as_array().unwrap();
                        let (re, im) = if dtype == DType::Complex64 {
                            (
                                float_value(DType::Float32, &chunk[..h]),
                                float_value(DType::Float32, &chunk[h..]),
                            )
                        } else {
                            (
                                float_value(DType::Float64, &chunk[..h]),
                                float_value(DType::Float64, &chunk[h..]),
                            )
                        };
                        same_float(re, parse_float(pair[0].as_str().unwrap()))
                            && same_float(im, parse_float(pair[1].as_str().unwrap()))
                    }
                    DType::Float16
                    | DType::BFloat16
                    | DType::Float32
                    | DType::Float64
                    | DType::Float8E4M3FN
                    | DType::Float8E5M2 => same_float(
                        float_value(dtype, chunk),
                        parse_float(want.as_str().unwrap()),
                    ),
                    DType::UInt8
                    | DType::UInt16
                    | DType::UInt32
                    | DType::UInt64
                    | DType::QUInt8
                    | DType::QUInt16 => {
                        let mut a = [0u8; 8];
                        a[..es].copy_from_slice(chunk);
                        u64::from_le_bytes(a) == want.as_u64().unwrap()
                    }
                    _ => {
                        // Signed integers (also qint*): sign-extend.
                        let mut a = if chunk[es - 1] & 0x80 != 0 {
                            [0xffu8; 8]
                        } else {
                            [0u8; 8]
                        };
                        a[..es].copy_from_slice(chunk);
                        i64::from_le_bytes(a) == want.as_i64().unwrap()
                    }
                };
                assert!(ok, "{ctx}: element {i}: got {chunk:02x?}, manifest {want}");
            }
        }
    }
}

#[test]
fn every_manifest_checkpoint_matches() {
    let mut checked_tensors = 0;
    let mut checked_checkpoints = 0;
    let mut checked_v1 = 0;
    for (dir, m) in manifests() {
        for c in m["checkpoints"].as_array().unwrap() {
            if c["format"] == "pt" {
                continue; // PyTorch checkpoints: torch-pt's golden test
            }
            let prefix = dir.join(c["prefix"].as_str().unwrap());
            let ctx = prefix.display().to_string();
            let ck = Checkpoint::open(&prefix).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            // V2 manifests have no "format" field; V1 ones say "v1".
            let format = c.get("format").and_then(Value::as_str).unwrap_or("v2");
            assert_eq!(ck.format().to_string(), format, "{ctx}");
            let v1 = format == "v1";
            // The index facts are null exactly for V1 checkpoints.
            assert_eq!(c["index"].is_null(), v1, "{ctx}: index");
            assert_eq!(
                c["index_entries_file"].is_null(),
                v1,
                "{ctx}: index_entries_file"
            );
            assert_eq!(
                u64::from(ck.num_shards()),
                c["num_shards"].as_u64().unwrap(),
                "{ctx}"
            );
            assert_eq!(ck.endianness().to_string(), "little");
            assert!(ck.problems().is_empty(), "{ctx}: {:?}", ck.problems());
            let want = c["tensors"].as_array().unwrap();
            let names: Vec<&str> = ck.tensors().iter().map(|t| t.name.as_str()).collect();
            let want_names: Vec<&str> = want.iter().map(|t| t["name"].as_str().unwrap()).collect();
            assert_eq!(names, want_names, "{ctx}: tensor list");
            assert_eq!(names.len() as u64, c["num_tensors"].as_u64().unwrap());
            for (info, t) in ck.tensors().iter().zip(want) {
                let tctx = format!("{ctx}: {}", info.name);
                assert_eq!(info.dtype.name(), t["dtype"].as_str().unwrap(), "{tctx}");
                assert_eq!(info.shape, shape_of(&t["shape"]), "{tctx}");
                assert_eq!(info.num_elements(), t["num_elements"].as_u64(), "{tctx}");
                // "sliced" comes from the V2 index entries (absent = false); a V1 manifest has no
                // index and records it only when present.
                if let Some(sliced) = t["sliced"].as_bool().or((!v1).then_some(false)) {
                    assert_eq!(info.sliced, sliced, "{tctx}");
                }
                if let Some(nb) = t.get("nbytes").and_then(Value::as_u64) {
                    assert_eq!(info.nbytes(), Some(nb), "{tctx}");
                }
                if t.get("read_error").is_some() {
                    let e = ck.read(&info.name).expect_err(&tctx);
                    assert_eq!(e.key(), Some(info.name.as_str()), "{tctx}: {e}");
                    assert!(e.to_string().contains("sufficient"), "{tctx}: {e}");
                    continue;
                }
                let tensor = ck
                    .read(&info.name)
                    .unwrap_or_else(|e| panic!("{tctx}: {e}"));
                assert_eq!(tensor.dtype, info.dtype);
                assert_eq!(tensor.shape, info.shape);
                assert_eq!(
                    hex(&digest(&tensor)),
                    t["sha256"].as_str().unwrap(),
                    "{tctx}: sha256"
                );
                if let Some(raw) = t.get("raw_hex").and_then(Value::as_str) {
                    let TensorData::Bytes(b) = &tensor.data else {
                        panic!("{tctx}")
                    };
                    assert_eq!(hex(b), raw, "{tctx}: raw_hex");
                }
                if let Some(values) = t.get("values").and_then(Value::as_array) {
                    check_values(&tctx, info.dtype, &tensor.data, values);
                }
                if info.dtype != DType::String {
                    let mut out = Vec::new();
                    let n = ck.read_raw_to(&info.name, &mut out).unwrap();
                    assert_eq!(n as usize, out.len());
                    let TensorData::Bytes(b) = &tensor.data else {
                        panic!("{tctx}")
                    };
                    assert_eq!(&out, b, "{tctx}: read_raw_to");
                    assert_eq!(ck.read_bytes(&info.name).unwrap().as_ref(), b.as_slice());
                }
                // Per-slice values (e.g. the float16 partitions TF cannot assemble).
                if let Some(sv) = t.get("slice_values").and_then(Value::as_array) {
                    check_slice_values(&ck, &tctx, &info.name, sv);
                }
                checked_tensors += 1;
            }
            if v1 {
                assert!(
                    ck.bundle().is_none(),
                    "{ctx}: a V1 checkpoint has no bundle"
                );
                checked_v1 += 1;
            } else {
                check_index(&dir, c, &ck, &ctx);
            }
            checked_checkpoints += 1;
        }
    }
    assert!(checked_checkpoints >= 15, "{checked_checkpoints}");
    assert!(checked_v1 >= 1, "no V1 checkpoint in the fixtures");
    assert!(checked_tensors >= 3000, "{checked_tensors}");
}

/// Reads each stored slice through its raw entry and compares with `slice_values`.
fn check_slice_values(ck: &Checkpoint, ctx: &str, name: &str, sv: &[Value]) {
    let b = ck.bundle().unwrap();
    for s in sv {
        let ext: Vec<(i64, i64)> = s["slice"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_i64().unwrap(), p[1].as_i64().unwrap()))
            .collect();
        let key = ordered_code::encode_slice_key(name.as_bytes(), &ext);
        let raw = b
            .entry(&key)
            .unwrap_or_else(|| panic!("{ctx}: slice {ext:?} entry"));
        b.check_raw_entry(raw).unwrap();
        let _ = slice::display(&ext);
    }
}

fn check_index(dir: &Path, c: &Value, ck: &Checkpoint, ctx: &str) {
    let b = ck.bundle().unwrap();
    let idx = &c["index"];
    assert_eq!(
        b.num_data_blocks() as u64,
        idx["num_data_blocks"].as_u64().unwrap(),
        "{ctx}"
    );
    let h = &idx["header"];
    assert_eq!(
        i64::from(b.header().num_shards),
        h["num_shards"].as_i64().unwrap()
    );
    assert_eq!(
        if b.header().endianness == 1 {
            "BIG"
        } else {
            "LITTLE"
        },
        h["endianness"].as_str().unwrap()
    );
    let v = b.header().version.clone().unwrap_or_default();
    assert_eq!(
        i64::from(v.producer),
        h["version"]["producer"].as_i64().unwrap()
    );
    assert_eq!(
        i64::from(v.min_consumer),
        h["version"]["min_consumer"].as_i64().unwrap()
    );
    assert_eq!(
        v.bad_consumers.len(),
        h["version"]["bad_consumers"].as_array().unwrap().len()
    );
    let raw = b.raw_entries();
    assert_eq!(
        raw.len() as u64,
        idx["num_entries"].as_u64().unwrap(),
        "{ctx}"
    );
    let slices = raw.iter().filter(|e| e.key.first() == Some(&0)).count();
    assert_eq!(
        slices as u64,
        idx["num_slice_entries"].as_u64().unwrap(),
        "{ctx}"
    );

    let f = dir.join(c["index_entries_file"].as_str().unwrap());
    let ie: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert_eq!(
        b.num_data_blocks() as u64,
        ie["num_data_blocks"].as_u64().unwrap()
    );
    // Data block sizes, read straight from the table.
    let mut index_path = ck.prefix().as_os_str().to_os_string();
    index_path.push(".index");
    let bytes = std::fs::read(&index_path).unwrap();
    let table = tf_bundle::table::Table::parse(&bytes).unwrap();
    let sizes: Vec<u64> = table.index().iter().map(|(_, h)| h.size).collect();
    let want_sizes: Vec<u64> = ie["data_block_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(sizes, want_sizes, "{ctx}: data block sizes");
    let entries = ie["entries"].as_array().unwrap();
    assert_eq!(entries.len(), raw.len(), "{ctx}: index entries");
    for (r, want) in raw.iter().zip(entries) {
        let key = match want.get("key").and_then(Value::as_str) {
            Some(k) => k.as_bytes().to_vec(),
            None => unhex(want["key_hex"].as_str().unwrap()),
        };
        assert_eq!(r.key, key, "{ctx}: key order");
        let e = r.entry.as_ref().unwrap();
        let dt = DType::from_proto(e.dtype).unwrap();
        let want_dt = want["dtype"].as_str().unwrap();
        let proto_name = tf_bundle::proto::DataType::try_from(e.dtype)
            .unwrap()
            .as_str_name();
        assert_eq!(proto_name, want_dt, "{ctx}: {dt}");
        let shape: Vec<u64> = tf_bundle::bundle::shape_from_proto(e.shape.as_ref()).unwrap();
        assert_eq!(shape, shape_of(&want["shape"]), "{ctx}");
        assert_eq!(i64::from(e.shard_id), want["shard_id"].as_i64().unwrap());
        assert_eq!(e.offset, want["offset"].as_i64().unwrap());
        assert_eq!(e.size, want["size"].as_i64().unwrap());
        assert_eq!(i64::from(e.crc32c), want["crc32c"].as_i64().unwrap());
        let want_slices = want
            .get("slices")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        assert_eq!(e.slices.len(), want_slices.len(), "{ctx}: slices");
        for (s, ws) in e.slices.iter().zip(&want_slices) {
            let ext = slice::from_proto(s);
            let wext: Vec<(i64, i64)> = ws
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_i64().unwrap(), p[1].as_i64().unwrap()))
                .collect();
            assert_eq!(ext, wext, "{ctx}: slice extents");
            // The slice key computed from the stored extents exists in the table.
            let key = ordered_code::encode_slice_key(&r.key, &ext);
            assert!(b.entry(&key).is_some(), "{ctx}: slice key {}", hex(&key));
        }
        if r.key.first() == Some(&0) {
            let (name, ext) = ordered_code::decode_slice_key(&r.key).unwrap();
            assert_eq!(ordered_code::encode_slice_key(&name, &ext), r.key);
        }
    }
}

#[test]
fn checkpoint_state_directories_resolve() {
    // Every case dir (or net-model/) holding a `checkpoint` file opens as its newest checkpoint.
    let mut n = 0;
    for (dir, _) in manifests() {
        for d in [dir.clone(), dir.join("net-model")] {
            if d.join("checkpoint").is_file() {
                let st = tf_bundle::CheckpointState::read_dir(&d).unwrap().unwrap();
                let ck = Checkpoint::open(&d).unwrap();
                assert_eq!(ck.prefix(), d.join(&st.model_checkpoint_path));
                n += 1;
            }
        }
    }
    assert!(n >= 8, "{n}");
}

#[test]
fn any_bundle_file_name_resolves_to_its_prefix() {
    let d = fixtures().join("tf1_sharded_3dev");
    let prefix = d.join("sharded.ckpt");
    for suffix in [".index", ".data-00002-of-00003", ".data-00000-of-00003", ""] {
        let p = PathBuf::from(format!("{}{suffix}", prefix.display()));
        let ck = Checkpoint::open(&p).unwrap();
        assert_eq!(ck.prefix(), prefix, "{suffix}");
    }
    let meta = fixtures().join("returnn_train_nativelstm/net-model/network.003.meta");
    let ck = Checkpoint::open(&meta).unwrap();
    assert!(ck.prefix().ends_with("network.003"));
}

#[test]
fn tf2_object_graph_names_every_key() {
    let d = fixtures().join("tf2_object_keras");
    for p in ["ckpt-1", "ckpt-2"] {
        let ck = Checkpoint::open(d.join(p)).unwrap();
        let names = tf_bundle::object_graph::from_checkpoint(&ck)
            .unwrap()
            .unwrap();
        assert!(!names.is_empty());
        for n in &names {
            assert!(ck.get(&n.checkpoint_key).is_some(), "{}", n.checkpoint_key);
            // Plain variables: key = object path + "/.ATTRIBUTES/" + attribute.
            if !n.checkpoint_key.contains(".OPTIMIZER_SLOT") {
                assert_eq!(
                    n.checkpoint_key,
                    format!("{}/.ATTRIBUTES/{}", n.object_path, n.attribute),
                );
            }
        }
        // Every variable key except the graph itself is named by the graph.
        for t in ck.tensors() {
            if t.name != "_CHECKPOINTABLE_OBJECT_GRAPH" {
                assert!(
                    names.iter().any(|n| n.checkpoint_key == t.name),
                    "{}",
                    t.name
                );
            }
        }
    }
    let plain = Checkpoint::open(fixtures().join("tf1_saver_dtypes/model.ckpt")).unwrap();
    assert!(tf_bundle::object_graph::from_checkpoint(&plain)
        .unwrap()
        .is_none());
}
