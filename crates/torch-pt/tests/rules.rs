//! One table-driven test per rule of docs/pt-format.md (the ZIP subset §2, the pickle subset
//! §3, the value tree §4, the dtypes §5, the state dict §6, the writer §7). Each case is a
//! small archive built here; the expectation is what torch 2.15's `torch.load(weights_only=True)`
//! does with it (checked by `cargo xtask pt-oracle` for the kinds of file it generates).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use common::{archive, archive_with, f32_bytes, one_tensor_pickle, P};
use torch_pt::{DType, ErrorKind, PtFile, Value};

fn open(bytes: Vec<u8>) -> Result<PtFile, torch_pt::Error> {
    PtFile::from_bytes(bytes, "case.pt")
}

fn kind(bytes: Vec<u8>) -> Option<ErrorKind> {
    open(bytes).err().map(|e| e.kind())
}

#[test]
fn zip_rules() {
    let pkl = one_tensor_pickle(2);
    let st = f32_bytes(&[1.0, 2.0]);
    let ok = archive(&pkl, &[("0", &st)]);
    // (what, archive, expected error)
    let mut cases: Vec<(&str, Vec<u8>, Option<ErrorKind>)> = vec![
        ("a well-formed archive", ok.clone(), None),
        (
            "any root folder name",
            archive_with("my.model-003", &pkl, &[("0", &st)], &[("version", b"3\n")]),
            None,
        ),
        (
            "no version record",
            archive_with("a", &pkl, &[("0", &st)], &[]),
            Some(ErrorKind::Version),
        ),
        (
            "version 99",
            archive_with("a", &pkl, &[("0", &st)], &[("version", b"99\n")]),
            Some(ErrorKind::Version),
        ),
        (
            ".data/version wins over version",
            archive_with(
                "a",
                &pkl,
                &[("0", &st)],
                &[("version", b"x"), (".data/version", b"1\n")],
            ),
            None,
        ),
        (
            "byteorder little",
            archive_with(
                "a",
                &pkl,
                &[("0", &st)],
                &[("version", b"3\n"), ("byteorder", b"little")],
            ),
            None,
        ),
        (
            "byteorder middle",
            archive_with(
                "a",
                &pkl,
                &[("0", &st)],
                &[("version", b"3\n"), ("byteorder", b"middle")],
            ),
            Some(ErrorKind::Version),
        ),
        (
            "torch's own extra records are ignored",
            archive_with(
                "a",
                &pkl,
                &[("0", &st)],
                &[
                    ("version", b"3\n"),
                    (".format_version", b"1"),
                    (".storage_alignment", b"64"),
                    (".data/serialization_id", b"1234"),
                ],
            ),
            None,
        ),
        (
            "an empty data.pkl",
            archive_with("a", b"", &[("0", &st)], &[("version", b"3\n")]),
            Some(ErrorKind::Truncated),
        ),
        (
            "not a zip",
            b"hello world, not a zip archive".to_vec(),
            Some(ErrorKind::NotZip),
        ),
        ("legacy pickle format", pkl.clone(), Some(ErrorKind::NotZip)),
        (
            "a missing storage record",
            archive(&pkl, &[]),
            Some(ErrorKind::NotFound),
        ),
        (
            "a storage record of the wrong size",
            archive(&pkl, &[("0", &st[..4])]),
            Some(ErrorKind::BadTensor),
        ),
    ];
    // a flipped payload byte: the CRC catches it when the record is read
    let mut flipped = ok.clone();
    let z = torch_pt::zip::ZipArchive::parse(&flipped).unwrap();
    let d = z.get("data.pkl").unwrap().data_offset as usize;
    flipped[d + 3] ^= 0x20;
    cases.push((
        "a flipped byte in data.pkl",
        flipped,
        Some(ErrorKind::Checksum),
    ));
    for (what, bytes, want) in cases {
        assert_eq!(kind(bytes), want, "{what}");
    }
    // no data.pkl at all
    let no_pkl = archive_with("a", b"", &[("0", &st)], &[("version", b"3\n")]);
    let mut z = torch_pt::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()), false);
    for e in torch_pt::zip::ZipArchive::parse(&no_pkl).unwrap().entries() {
        if !e.name.ends_with("data.pkl") {
            let b = torch_pt::zip::read_entry(&no_pkl, e).unwrap();
            z.add(&e.name, b.len() as u64, &mut |w| w.write_all(&b))
                .unwrap();
        }
    }
    let missing = z.finish().unwrap().into_inner();
    assert_eq!(kind(missing), Some(ErrorKind::NotFound));
}

/// Opcodes torch's weights-only unpickler accepts give values; the others are refused.
#[test]
fn opcode_table() {
    let accept: Vec<(&str, Vec<u8>, Value)> = vec![
        ("NONE", P::new().op(b"N").stop(), Value::None),
        ("NEWTRUE", P::new().op(b"\x88").stop(), Value::Bool(true)),
        ("NEWFALSE", P::new().op(b"\x89").stop(), Value::Bool(false)),
        ("BININT1", P::new().op(b"K\xff").stop(), Value::Int(255)),
        (
            "BININT2",
            P::new().op(b"M\xff\xff").stop(),
            Value::Int(65535),
        ),
        (
            "BININT",
            P::new().op(b"J\xff\xff\xff\xff").stop(),
            Value::Int(-1),
        ),
        (
            "LONG1",
            P::new().op(b"\x8a\x02\x00\x80").stop(),
            Value::Int(-32768),
        ),
        (
            "BINFLOAT",
            P::new().op(b"G\x3f\xf8\x00\x00\x00\x00\x00\x00").stop(),
            Value::Float(1.5),
        ),
        (
            "BINUNICODE",
            P::new().str("é").stop(),
            Value::Str("é".into()),
        ),
        (
            "SHORT_BINSTRING",
            P::new().op(b"U\x02ab").stop(),
            Value::Str("ab".into()),
        ),
        (
            "EMPTY_TUPLE",
            P::new().op(b")").stop(),
            Value::Tuple(vec![]),
        ),
        (
            "TUPLE2",
            P::new().op(b"K\x01K\x02\x86").stop(),
            Value::Tuple(vec![Value::Int(1), Value::Int(2)]),
        ),
        (
            "MARK TUPLE",
            P::new().op(b"(K\x01K\x02K\x03K\x04t").stop(),
            Value::Tuple((1..=4).map(Value::Int).collect()),
        ),
        (
            "EMPTY_LIST APPEND APPENDS",
            P::new().op(b"]K\x01a(K\x02K\x03e").stop(),
            Value::List((1..=3).map(Value::Int).collect()),
        ),
        ("EMPTY_SET", P::new().op(b"\x8f").stop(), Value::Set(vec![])),
        (
            "BINPUT/BINGET",
            P::new().op(b"K\x07q\x05h\x05\x86").stop(),
            Value::Tuple(vec![Value::Int(7), Value::Int(7)]),
        ),
        (
            "PROTO 3 alone (torch only warns)",
            vec![0x80, 3, b'N', b'.'],
            Value::None,
        ),
    ];
    for (what, pkl, want) in accept {
        let u = torch_pt::pickle::unpickle(&pkl);
        assert_eq!(
            u.unwrap_or_else(|e| panic!("{what}: {e}")).root,
            want,
            "{what}"
        );
    }
    // refused: protocol 0/1 text opcodes, protocol 3 bytes, protocol 4/5 opcodes
    for (name, op) in [
        ("INT", &b"I1\n"[..]),
        ("STRING", b"S'a'\n"),
        ("DUP", b"K\x012"),
        ("POP", b"K\x010"),
        ("BINBYTES", b"B\x01\x00\x00\x00a"),
        ("SHORT_BINBYTES", b"C\x01a"),
        ("FRAME", b"\x95\x01\x00\x00\x00\x00\x00\x00\x00"),
        ("SHORT_BINUNICODE", b"\x8c\x01a"),
        ("STACK_GLOBAL", b"\x8c\x02os\x8c\x06system\x93"),
        ("MEMOIZE", b"N\x94"),
        ("NEWOBJ_EX", b"\x92"),
        ("ADDITEMS", b"\x8f(K\x01\x90"),
        ("BYTEARRAY8", b"\x96\x00\x00\x00\x00\x00\x00\x00\x00"),
        ("EXT1", b"\x82\x01"),
        ("INST", b"(ios\nsystem\n"),
        ("OBJ", b"(o"),
    ] {
        let mut pkl = vec![0x80, 2];
        pkl.extend_from_slice(op);
        pkl.push(b'.');
        let e = torch_pt::pickle::unpickle(&pkl).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadOpcode, "{name}: {e}");
    }
}

#[test]
fn global_table() {
    let allowed_values: Vec<(&str, &str, Value)> = vec![
        ("torch", "float32", Value::Dtype("float32".into())),
        ("torch", "uint16", Value::Dtype("uint16".into())),
        (
            "collections",
            "OrderedDict",
            Value::Global("collections.OrderedDict".into()),
        ),
        ("__builtin__", "set", Value::Global("builtins.set".into())),
        (
            "torch._utils",
            "_rebuild_sparse_tensor",
            Value::Global("torch._utils._rebuild_sparse_tensor".into()),
        ),
    ];
    for (m, n, want) in allowed_values {
        let pkl = P::new().global(m, n).stop();
        assert_eq!(
            torch_pt::pickle::unpickle(&pkl).unwrap().root,
            want,
            "{m}.{n}"
        );
    }
    for (m, n) in [
        ("os", "system"),
        ("posix", "system"),
        ("builtins", "eval"),
        ("__builtin__", "eval"),
        ("builtins", "getattr"),
        ("subprocess", "Popen"),
        ("torch", "load"),
        ("torch", "float"),
        ("collections", "defaultdict"),
        ("copy_reg", "_reconstructor"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("torch.distributed.tensor", "DTensor"),
    ] {
        let pkl = P::new().global(m, n).stop();
        let e = torch_pt::pickle::unpickle(&pkl).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ForbiddenGlobal, "{m}.{n}: {e}");
        assert!(e.to_string().contains(n), "{e}");
    }
    // allowed by torch but not represented: refused when called
    let pkl = P::new()
        .global("torch._utils", "_rebuild_qtensor")
        .op(b")R")
        .stop();
    assert_eq!(
        torch_pt::pickle::unpickle(&pkl).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

#[test]
fn value_rules() {
    // repeated dict keys: first position, last value; True == 1 as a key
    let pkl = P::new()
        .op(b"}(")
        .str("a")
        .op(b"K\x01")
        .str("b")
        .op(b"K\x02")
        .str("a")
        .op(b"K\x03K\x01K\x04\x88K\x05u")
        .stop();
    let v = torch_pt::pickle::unpickle(&pkl).unwrap().root;
    let d = v.as_dict().unwrap();
    assert_eq!(d.items.len(), 3);
    assert_eq!(d.items[0], (Value::Str("a".into()), Value::Int(3)));
    assert_eq!(d.items[2], (Value::Int(1), Value::Int(5)));
    // an unhashable key
    let pkl = P::new().op(b"}]K\x01s").stop();
    assert_eq!(
        torch_pt::pickle::unpickle(&pkl).unwrap_err().kind(),
        ErrorKind::BadPickle
    );
    // BUILD on a plain dict is refused (torch builds only OrderedDict attributes)
    let pkl = P::new().op(b"}}b").stop();
    assert_eq!(
        torch_pt::pickle::unpickle(&pkl).unwrap_err().kind(),
        ErrorKind::BadPickle
    );
    // OrderedDict attributes (a state dict's _metadata)
    let pkl = P::new()
        .global("collections", "OrderedDict")
        .op(b")R}")
        .str("_metadata")
        .op(b"K\x01sb")
        .stop();
    let v = torch_pt::pickle::unpickle(&pkl).unwrap().root;
    assert_eq!(v.as_dict().unwrap().attrs.len(), 1);
    // bytes are _codecs.encode(latin1 str)
    let pkl = P::new()
        .global("_codecs", "encode")
        .str("\u{0}\u{ff}")
        .str("latin1")
        .op(b"\x86R")
        .stop();
    assert_eq!(
        torch_pt::pickle::unpickle(&pkl).unwrap().root,
        Value::Bytes(vec![0, 255])
    );
    // torch.device('cuda', 1), torch.Size((2, 3))
    let pkl = P::new()
        .global("torch", "device")
        .str("cuda")
        .op(b"K\x01\x86R")
        .stop();
    assert_eq!(
        torch_pt::pickle::unpickle(&pkl).unwrap().root,
        Value::Device("cuda:1".into())
    );
    // STOP with an empty stack, no STOP, BINGET of an empty slot, odd SETITEMS
    for (what, pkl, want) in [
        ("empty STOP", vec![0x80, 2, b'.'], ErrorKind::BadPickle),
        ("no STOP", vec![0x80, 2, b'N'], ErrorKind::Truncated),
        (
            "BINGET of nothing",
            vec![0x80, 2, b'h', 9, b'.'],
            ErrorKind::BadMemo,
        ),
        (
            "odd SETITEMS",
            vec![0x80, 2, b'}', b'(', b'N', b'u', b'.'],
            ErrorKind::BadPickle,
        ),
        (
            "a cycle",
            vec![0x80, 2, b']', b'q', 0, b'h', 0, b'a', b'.'],
            ErrorKind::Unsupported,
        ),
        (
            "pop below a MARK",
            vec![0x80, 2, b'N', b'(', 0x85, b'.'],
            ErrorKind::BadPickle,
        ),
    ] {
        let e = torch_pt::pickle::unpickle(&pkl).unwrap_err();
        assert_eq!(e.kind(), want, "{what}: {e}");
    }
}

#[test]
fn tensor_rules() {
    let st = f32_bytes(&(0..12).map(|i| i as f32).collect::<Vec<_>>());
    type Case = (&'static str, Vec<u8>, Result<Vec<f32>, ErrorKind>);
    let cases: Vec<Case> = vec![
        (
            "a transpose reads in C order",
            P::new()
                .tensor("FloatStorage", "0", 12, 0, &[4, 3], &[1, 4])
                .stop(),
            Ok(vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]),
        ),
        (
            "a slice at an offset",
            P::new()
                .tensor("FloatStorage", "0", 12, 5, &[2, 2], &[3, 1])
                .stop(),
            Ok(vec![5., 6., 8., 9.]),
        ),
        (
            "an expand (stride 0)",
            P::new()
                .tensor("FloatStorage", "0", 12, 2, &[3], &[0])
                .stop(),
            Ok(vec![2., 2., 2.]),
        ),
        (
            "a scalar",
            P::new()
                .tensor("FloatStorage", "0", 12, 11, &[], &[])
                .stop(),
            Ok(vec![11.]),
        ),
        (
            "zero elements at any offset",
            P::new()
                .tensor("FloatStorage", "0", 12, 500, &[0, 3], &[3, 1])
                .stop(),
            Ok(vec![]),
        ),
        (
            "a view past its storage",
            P::new()
                .tensor("FloatStorage", "0", 12, 10, &[3], &[1])
                .stop(),
            Err(ErrorKind::BadTensor),
        ),
        (
            "2^40 elements",
            P::new()
                .tensor(
                    "FloatStorage",
                    "0",
                    12,
                    0,
                    &[1 << 20, 1 << 20],
                    &[1 << 20, 1],
                )
                .stop(),
            Err(ErrorKind::BadTensor),
        ),
        (
            "a storage numel larger than the record",
            P::new()
                .tensor("FloatStorage", "0", 1 << 40, 0, &[2], &[1])
                .stop(),
            Err(ErrorKind::BadTensor),
        ),
        (
            "a negative stride",
            P::new()
                .tensor("FloatStorage", "0", 12, 0, &[2], &[-1])
                .stop(),
            Err(ErrorKind::BadTensor),
        ),
        (
            "a rank mismatch",
            P::new()
                .tensor("FloatStorage", "0", 12, 0, &[2, 2], &[1])
                .stop(),
            Err(ErrorKind::BadTensor),
        ),
        (
            "a complex storage",
            P::new()
                .tensor("ComplexFloatStorage", "0", 6, 0, &[6], &[1])
                .stop(),
            Err(ErrorKind::UnsupportedDtype),
        ),
    ];
    for (what, pkl, want) in cases {
        let got = open(archive(&pkl, &[("0", &st)])).and_then(|f| {
            let t = f.tensors().into_iter().next().unwrap();
            let b = f.read(&t)?;
            Ok(b.chunks(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<_>>())
        });
        match (got, want) {
            (Ok(v), Ok(w)) => assert_eq!(v, w, "{what}"),
            (Err(e), Err(k)) => {
                assert_eq!(e.kind(), k, "{what}: {e}");
                assert!(e.path().is_some(), "{what}: no file in {e}");
            }
            (g, w) => panic!("{what}: got {g:?}, expected {w:?}"),
        }
    }
}

#[test]
fn big_endian_files_read_as_little_endian() {
    let pkl = one_tensor_pickle(2);
    let be: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|x| x.to_be_bytes())
        .collect();
    let f = open(archive_with(
        "a",
        &pkl,
        &[("0", &be)],
        &[("version", b"3\n"), ("byteorder", b"big")],
    ))
    .unwrap();
    assert!(f.is_big_endian());
    let sd = f.state_dict().unwrap();
    assert_eq!(f.read(&sd.tensors[0]).unwrap(), f32_bytes(&[1.5, -2.0]));
    assert!(matches!(
        f.tensor_bytes(&sd.tensors[0]).unwrap(),
        std::borrow::Cow::Owned(_)
    ));
}

#[test]
fn state_dict_rules() {
    let t = |p: P| p.tensor("FloatStorage", "0", 2, 0, &[2], &[1]);
    let st = f32_bytes(&[1.0, 2.0]);
    // RETURNN: {"model": {...}, "epoch": 3, ...}
    let pkl = P::new().op(b"}(").str("model").op(b"}(").str("w");
    let pkl = t(pkl)
        .op(b"u")
        .str("epoch")
        .op(b"K\x03")
        .str("step")
        .op(b"M\x10\x27")
        .str("effective_learning_rate")
        .op(b"N")
        .str("returnn_version")
        .str("1.2")
        .op(b"u")
        .stop();
    let f = open(archive(&pkl, &[("0", &st)])).unwrap();
    let sd = f.state_dict().unwrap();
    assert_eq!(sd.under.as_deref(), Some("model"));
    assert_eq!(sd.tensors.len(), 1);
    assert_eq!(sd.tensors[0].name, "w");
    assert_eq!(sd.tensors[0].path.to_string(), "model.w");
    let s = f.returnn_scalars();
    assert_eq!((s.epoch, s.step), (Some(3), Some(10000)));
    assert_eq!(s.effective_learning_rate, None);
    assert_eq!(s.returnn_version.as_deref(), Some("1.2"));
    assert_eq!(f.scalars().len(), 4);
    // a flat dict
    let f = open(archive(&one_tensor_pickle(2), &[("0", &st)])).unwrap();
    let sd = f.state_dict().unwrap();
    assert_eq!(sd.under, None);
    assert_eq!(sd.get("w").unwrap().info.dtype, DType::F32);
    // neither: a dict with a non-tensor entry and no "model"
    let pkl = t(P::new().op(b"}(").str("w"))
        .str("epoch")
        .op(b"K\x01u")
        .stop();
    let e = open(archive(&pkl, &[("0", &st)]))
        .unwrap()
        .state_dict()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotAStateDict);
    assert_eq!(e.key(), Some("epoch"));
    // nested: optimizer state reachable through tensors() with structured paths
    let pkl = P::new()
        .op(b"}(")
        .str("optimizer")
        .op(b"}(")
        .str("state")
        .op(b"}(K\x00}(")
        .str("exp_avg");
    let pkl = t(pkl).op(b"uuuu").stop();
    let f = open(archive(&pkl, &[("0", &st)])).unwrap();
    let all = f.tensors();
    assert_eq!(all[0].name, "optimizer.state.0.exp_avg");
    assert!(f
        .value_at(&["optimizer", "state", "0", "exp_avg"])
        .is_some());
}
