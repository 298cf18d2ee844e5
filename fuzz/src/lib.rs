//! The fuzz harnesses of returnn-ckpt, one function per target (the `fuzz_targets/*.rs` binaries
//! only call these). Each harness feeds arbitrary bytes to a parser and panics only when an
//! invariant of the parser's contract is broken: a parse that succeeds must be self-consistent
//! (strict decoders re-encode to the input, values have the sizes their shapes say, the
//! streaming and the whole-tensor reads agree). Errors are fine; panics, aborts, hangs and
//! allocations beyond libFuzzer's `-malloc_limit_mb` are findings.
//!
//! Input layouts (also produced by `cargo xtask fuzz --seeds`, which writes the seed corpus
//! from the fixtures):
//! * `table`: a whole table file (`.index` or V1); parsed as is, then again with its block
//!   CRCs repaired (see [`repair_table_crcs`]) so that mutations inside blocks reach the block
//!   and entry parsers instead of stopping at the checksum.
//! * `bundle_entry`: `[shard_len: u16 LE][shard bytes][BundleEntryProto bytes]`.
//! * `string_tensor`: `[n: u16 LE][flags: u8][masked crc: u32 LE][payload]`.
//! * `ordered_code`: any bytes.
//! * `reader`: `[mode: u8][index_len: u32 LE][index][shard_len: u32 LE][shard]...[last shard]`
//!   (`mode & 1`: V1, then every part is a table file; `mode & 2`: the table files' block CRCs
//!   are repaired first).
//! * `pt_pickle`: any bytes, as `data.pkl` of a `.pt` file.
//! * `pt_reader`: `[mode: u8][.pt archive]` (`mode & 1`: every entry's CRC-32 is repaired first).
//! * `config`: `[mode: u8][UTF-8 text]` (`mode % 3`: 0 Python, 1 detected by content,
//!   2 `++key value` overrides on top of a Python config).

use prost::Message;
use tf_bundle::proto::{BundleEntryProto, BundleHeaderProto};
use tf_bundle::table::builder::{TableBuilder, TableOptions};
use tf_bundle::table::{BlockHandle, Footer, FOOTER_LEN, SNAPPY, TRAILER_LEN};
use tf_bundle::{bundle, crc, ordered_code, slice, table, Checkpoint, TensorData};

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

/// Rewrites the trailer CRC of the block at `h` (if it lies inside `buf`); returns the block's
/// contents, decompressed if its type says snappy.
fn repair_block(buf: &mut [u8], h: BlockHandle) -> Option<Vec<u8>> {
    let start = usize::try_from(h.offset).ok()?;
    let end = start.checked_add(usize::try_from(h.size).ok()?)?;
    if end.checked_add(TRAILER_LEN as usize)? > buf.len() {
        return None;
    }
    let c = crc::mask(crc::crc32c(&buf[start..=end]));
    buf[end + 1..end + 5].copy_from_slice(&c.to_le_bytes());
    match buf[end] {
        SNAPPY => table::decompress(&buf[start..end], "repair").ok(),
        _ => Some(buf[start..end].to_vec()),
    }
}

/// Makes every block CRC reachable from the footer (metaindex, index, data blocks) match its
/// block, so that a fuzzer's mutation inside a block is parsed rather than rejected by the
/// checksum. Everything else stays as it is.
pub fn repair_table_crcs(buf: &mut [u8]) {
    let Some(at) = buf.len().checked_sub(FOOTER_LEN as usize) else {
        return;
    };
    let Ok(footer) = Footer::decode(&buf[at..]) else {
        return;
    };
    repair_block(buf, footer.metaindex);
    let Some(index) = repair_block(buf, footer.index) else {
        return;
    };
    let Ok(entries) = table::parse_block(&index, "repair") else {
        return;
    };
    for (_, v) in entries {
        if let Ok((h, _)) = BlockHandle::decode(&v) {
            repair_block(buf, h);
        }
    }
}

/// Table / block parser: `Table::parse`, every data block, `get` of every key, and
/// `parse_block` on the raw bytes; then the same with the block CRCs repaired.
pub fn table(data: &[u8]) {
    table_once(data);
    let mut fixed = data.to_vec();
    repair_table_crcs(&mut fixed);
    if fixed != data {
        table_once(&fixed);
    }
}

fn table_once(data: &[u8]) {
    if let Ok(entries) = table::parse_block(data, "fuzz") {
        for w in entries.windows(2) {
            assert!(w[0].0 < w[1].0, "parse_block returned keys out of order");
        }
    }
    let _ = table::decompress(data, "fuzz");
    let Ok(t) = table::Table::parse(&data) else {
        return;
    };
    let Ok(entries) = t.entries(&data) else {
        return;
    };
    for w in entries.windows(2) {
        assert!(w[0].0 < w[1].0, "Table::entries returned keys out of order");
    }
    for (k, v) in &entries {
        match t.get(&data, k) {
            Ok(Some(got)) => assert_eq!(&got, v, "Table::get disagrees with Table::entries"),
            other => panic!("Table::get of a listed key returned {other:?}"),
        }
    }
}

/// Builds an `.index` with a little-endian one-shard header and the given entries.
pub fn index_with(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let header = BundleHeaderProto {
        num_shards: 1,
        endianness: 0,
        version: Some(tf_bundle::proto::VersionDef {
            producer: 1,
            min_consumer: 0,
            bad_consumers: vec![],
        }),
    };
    let mut b = TableBuilder::new(TableOptions::default());
    let _ = b.add(b"", &header.encode_to_vec());
    for (k, v) in entries {
        let _ = b.add(k, v);
    }
    b.finish()
}

/// Protobuf entry decoding, and the whole read path for one entry in a one-shard bundle.
pub fn bundle_entry(data: &[u8]) {
    let Some(shard_len) = u16_at(data, 0) else {
        return;
    };
    let rest = &data[2..];
    let cut = (shard_len as usize).min(rest.len());
    let (shard, entry_bytes) = rest.split_at(cut);
    let _ = BundleHeaderProto::decode(entry_bytes)
        .map(|h| h.version.map(|v| bundle::check_version(&v)));
    let Ok(entry) = BundleEntryProto::decode(entry_bytes) else {
        return;
    };
    if let Ok(shape) = bundle::shape_from_proto(entry.shape.as_ref()) {
        let mut regions = Vec::new();
        let stored: Vec<slice::Extents> = entry.slices.iter().map(slice::from_proto).collect();
        for ext in &stored {
            let key = ordered_code::encode_slice_key(b"t", ext);
            let back = ordered_code::decode_slice_key(&key);
            assert_eq!(
                back,
                Some((b"t".to_vec(), ext.clone())),
                "slice key round trip"
            );
            if let Ok(r) = slice::resolve(ext, &shape) {
                regions.push(r);
            }
        }
        if let Some(total) = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)) {
            let _ = slice::check_cover(&regions, total, &stored);
        }
    }
    let index = index_with(&[(b"t", entry_bytes)]);
    let Ok(c) = Checkpoint::from_memory(&index, vec![shard.to_vec()]) else {
        return;
    };
    check_checkpoint(&c, shard.len() as u64);
}

/// Reads every listed tensor every way there is and checks the results agree with the
/// listing. `input_bytes` bounds what a value can hold.
pub fn check_checkpoint(c: &Checkpoint, input_bytes: u64) {
    for info in c.tensors() {
        let r = c.read(&info.name);
        let Ok(t) = r else {
            continue;
        };
        assert_eq!(t.dtype, info.dtype);
        assert_eq!(t.shape, info.shape);
        let n = info
            .num_elements()
            .expect("a read tensor has a countable shape");
        match &t.data {
            TensorData::Bytes(b) => {
                assert_eq!(
                    Some(b.len() as u64),
                    info.nbytes(),
                    "{}: byte length",
                    info.name
                );
                if n > 0 {
                    assert!(
                        b.len() as u64 <= input_bytes,
                        "{}: {} bytes read from {input_bytes} input bytes",
                        info.name,
                        b.len()
                    );
                }
                let borrowed = c.read_bytes(&info.name).expect("read_bytes after read");
                assert_eq!(
                    borrowed.as_ref(),
                    b.as_slice(),
                    "read_bytes differs from read"
                );
                let mut streamed = Vec::new();
                let len = c
                    .read_raw_to(&info.name, &mut streamed)
                    .expect("read_raw_to after read");
                assert_eq!(len, streamed.len() as u64);
                assert_eq!(&streamed, b, "read_raw_to differs from read");
            }
            TensorData::Strings(s) => {
                assert_eq!(s.len() as u64, n, "{}: string count", info.name);
                let total: u64 = s.iter().map(|x| x.len() as u64).sum();
                assert!(total <= input_bytes, "{}: string bytes", info.name);
            }
        }
        let _ = tf_bundle::digest(&t);
    }
    let _ = c.verify_all();
    for p in c.problems() {
        assert!(c.read(&p.name).is_err(), "a problem key read fine");
    }
}

/// String-tensor decoding, checked and unchecked.
pub fn string_tensor(data: &[u8]) {
    let (Some(n), Some(&flags), Some(crc)) = (u16_at(data, 0), data.get(2), u32_at(data, 3)) else {
        return;
    };
    let payload = &data[7..];
    let big = flags & 1 != 0;
    for verify in [true, false] {
        if let Ok(s) = bundle::decode_string_tensor(payload, u64::from(n), crc, big, verify) {
            assert_eq!(s.len(), n as usize, "element count");
            let total: usize = s.iter().map(Vec::len).sum();
            assert!(
                total + 4 + s.len() <= payload.len(),
                "decoded more than the payload"
            );
        }
    }
    // n taken from the top bits too, so huge counts are tried.
    if let Some(big_n) = data
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    {
        let _ = bundle::decode_string_tensor(payload, big_n, crc, big, false);
        let _ = bundle::decode_variant_tensor(payload, big_n, crc, false);
    }
    // The same bytes as a DT_VARIANT payload (docs/tf-bundle-format.md §3.8).
    for verify in [true, false] {
        if let Ok(v) = bundle::decode_variant_tensor(payload, u64::from(n), crc, verify) {
            assert_eq!(v.len(), n as usize, "variant element count");
            assert!(5 * v.len() <= payload.len(), "decoded more than the payload");
        }
    }
}

/// OrderedCode: the strict decoders re-encode to exactly the bytes they consumed, and the
/// encoders round-trip.
pub fn ordered_code(data: &[u8]) {
    if let Some((name, ext)) = ordered_code::decode_slice_key(data) {
        assert_eq!(
            ordered_code::encode_slice_key(&name, &ext),
            data,
            "slice key not canonical"
        );
        let _ = slice::display(&ext);
        let _ = bundle::printable_key(data);
    }
    if let Some((v, used)) = ordered_code::decode_signed(data) {
        let mut out = Vec::new();
        ordered_code::encode_signed(v, &mut out);
        assert_eq!(out, data[..used], "signed not canonical");
    }
    if let Some((v, used)) = ordered_code::decode_unsigned(data) {
        let mut out = Vec::new();
        ordered_code::encode_unsigned(v, &mut out);
        assert_eq!(out, data[..used], "unsigned not canonical");
    }
    if let Some((s, used)) = ordered_code::decode_string(data) {
        let mut out = Vec::new();
        ordered_code::encode_string(&s, &mut out);
        assert_eq!(out, data[..used], "string not canonical");
    }
    // Encoders: numbers and extents taken from the input.
    let nums: Vec<i64> = data
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    for &v in &nums {
        let mut out = Vec::new();
        ordered_code::encode_signed(v, &mut out);
        assert_eq!(ordered_code::decode_signed(&out), Some((v, out.len())));
        out.clear();
        ordered_code::encode_unsigned(v as u64, &mut out);
        assert_eq!(
            ordered_code::decode_unsigned(&out),
            Some((v as u64, out.len()))
        );
    }
    let ext: Vec<(i64, i64)> = nums.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let key = ordered_code::encode_slice_key(data, &ext);
    assert_eq!(
        ordered_code::decode_slice_key(&key),
        Some((data.to_vec(), ext))
    );
}

/// Splits a `reader` input into its parts (see the crate docs).
pub fn split_parts(data: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(len) = u32_at(rest, 0) {
        let body = &rest[4..];
        let cut = (len as usize).min(body.len());
        parts.push(body[..cut].to_vec());
        rest = &body[cut..];
        if rest.is_empty() {
            return parts;
        }
    }
    parts.push(rest.to_vec());
    parts
}

/// Joins parts into a `reader` input (the inverse of [`split_parts`]).
pub fn join_parts(mode: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![mode];
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// The whole reader on an (index, data…) set, V2 or V1.
pub fn reader(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut parts = split_parts(rest);
    let input_bytes = rest.len() as u64;
    if mode & 2 == 2 {
        let tables = if mode & 1 == 1 { parts.len() } else { 1 };
        for p in parts.iter_mut().take(tables) {
            repair_table_crcs(p);
        }
    }
    let c = if mode & 1 == 1 {
        Checkpoint::from_memory_v1(parts)
    } else {
        let mut it = parts.into_iter();
        let index = it.next().unwrap_or_default();
        Checkpoint::from_memory(&index, it.collect())
    };
    if let Ok(c) = c {
        let _ = (c.format(), c.num_shards(), c.endianness(), c.prefix());
        check_checkpoint(&c, input_bytes);
    }
}

/// The config parser: Python, JSON, line-based, and `++key value` overrides; then the typed
/// reads of every key.
pub fn config(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let filename = match mode % 3 {
        1 => "fuzz.config",
        _ => "fuzz.py",
    };
    if returnn_config::ConfigFormat::detect(text, filename) == returnn_config::ConfigFormat::Lines
        && text.contains("include")
    {
        // Line-based configs can include other files: never read the fuzzing machine's files.
        return;
    }
    let mut c = if mode % 3 == 2 {
        let mut c = returnn_config::Config::new();
        let args: Vec<String> = text.split('\n').map(str::to_string).collect();
        if args.iter().any(|a| a.contains("include")) {
            return;
        }
        let _ = c.apply_overrides(&args);
        c
    } else {
        match returnn_config::Config::from_text(text, filename) {
            Ok(c) => c,
            Err(_) => return,
        }
    };
    let keys: Vec<String> = c.keys().into_iter().map(str::to_string).collect();
    for k in &keys {
        let _ = c.get(k);
        let _ = c.value(k, Some("d"));
        let _ = c.int(k, Some(1));
        let _ = c.bool(k, false);
        let _ = c.is_true(k, true);
    }
    if let Some(k) = keys.first() {
        let _ = c.add_line(k, "1");
    }
}

/// `port_rules`: a port rules file (TOML) -> `port::plan` against a fixed network of every
/// source kind -> every planned value computed from in-memory tensors. Must never panic; a
/// value whose planned size exceeds 1 MiB is not computed (a rules file may ask for a big
/// `const`, which is the user's own allocation).
pub fn port_rules(data: &[u8]) {
    use port::{Array, TensorSpec};
    use tf_bundle::DType;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rules) = port::Rules::from_toml(text, "fuzz.toml") else {
        return;
    };
    let specs: Vec<(&str, Vec<u64>)> = vec![
        ("lin/W", vec![3, 2]),
        ("lin/b", vec![2]),
        ("conv/W", vec![3, 1, 2]),
        ("conv/bias", vec![2]),
        ("nat/rec/W", vec![2, 8]),
        ("nat/rec/W_re", vec![2, 8]),
        ("nat/rec/b", vec![8]),
        ("cell/rec/lstm_cell/kernel", vec![4, 8]),
        ("cell/rec/lstm_cell/bias", vec![8]),
        ("bn/batch_norm/v2_mean", vec![2]),
        ("bn/batch_norm/v2_variance", vec![2]),
        ("bn/batch_norm/bn_bn_output_gamma", vec![1, 1, 2]),
        ("ln/scale", vec![2]),
        ("ln/bias", vec![2]),
        ("att/QKV", vec![2, 6]),
        ("global_step", vec![]),
    ];
    let mut src = std::collections::BTreeMap::new();
    let mut list = Vec::new();
    for (n, s) in &specs {
        let dt = if *n == "global_step" { DType::Int64 } else { DType::Float32 };
        let count: u64 = s.iter().product();
        let data: Vec<u8> = (0..count * 4 * if dt == DType::Int64 { 2 } else { 1 })
            .map(|i| (i % 7) as u8)
            .collect();
        if let Ok(a) = Array::new(dt, s.clone(), data) {
            src.insert(n.to_string(), a);
        }
        list.push(TensorSpec::new(*n, dt, s.clone()));
    }
    let Ok(plan) = port::plan(&rules, None, &list, None) else {
        return;
    };
    let _ = serde_json::to_string(&plan);
    for p in &plan.params {
        let size = port::array::byte_len(&p.meta()).unwrap_or(u64::MAX);
        if size <= 1 << 20 {
            let _ = p.compute(&src);
        }
    }
    let _ = port::suggest(None, &list, None, &Default::default());
}

/// The `.pt` unpickler (torch-pt's restricted weights-only subset) on arbitrary bytes: an
/// accepted pickle gives a tree whose tensors have consistent ranks.
pub fn pt_pickle(data: &[u8]) {
    if let Ok(u) = torch_pt::pickle::unpickle(data) {
        let mut ts = Vec::new();
        torch_pt::value::collect_tensors(&u.root, &Default::default(), &mut ts);
        for t in ts {
            assert_eq!(t.info.shape.len(), t.info.stride.len());
        }
    }
}

/// Rewrites the CRC-32 of every entry (local and central header) to match its payload, so
/// mutations reach the pickle and the tensor reads instead of the checksum.
pub fn repair_pt_crcs(buf: &mut [u8]) {
    let view: &[u8] = buf;
    let Ok(z) = torch_pt::zip::ZipArchive::parse(&view) else {
        return;
    };
    for e in z.entries() {
        let (a, b) = (e.data_offset as usize, (e.data_offset + e.size) as usize);
        let Some(payload) = buf.get(a..b) else {
            continue;
        };
        let c = crc32fast::hash(payload).to_le_bytes();
        for at in [
            e.header_offset as usize + 14,
            e.central_offset as usize + 16,
        ] {
            if let Some(dst) = buf.get_mut(at..at + 4) {
                dst.copy_from_slice(&c);
            }
        }
    }
}

/// The whole `.pt` reader: `[mode: u8][archive bytes]`; `mode & 1` repairs the CRCs first
/// ([`repair_pt_crcs`]). An opened file's tensors must read with their declared sizes, the
/// borrowed and copied reads must agree, and the state-dict/scalar helpers must not panic.
pub fn pt_reader(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        repair_pt_crcs(&mut bytes);
    }
    let Ok(f) = torch_pt::PtFile::from_bytes(bytes, "fuzz.pt") else {
        return;
    };
    let _ = (
        f.state_dict(),
        f.scalars(),
        f.returnn_scalars(),
        f.shared_storages(),
    );
    for t in f.tensors() {
        let read = f.read(&t);
        if let Ok(v) = &read {
            assert_eq!(Some(v.len() as u64), t.info.nbytes(), "{}", t.name);
            let b = f
                .tensor_bytes(&t)
                .expect("a tensor that read once reads again");
            assert_eq!(b.as_ref(), v.as_slice(), "{}", t.name);
        }
    }
    let _ = f.verify_all();
}
