//! The V2 tensor bundle (docs/tf-bundle-format.md §3): header and version rules, entries, size rules,
//! data shards opened lazily and cached, CRC32C on every read, big-endian byte swapping,
//! `DT_STRING` decoding with both checksums, and reassembly of partitioned tensors.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use prost::Message;

use crate::crc;
pub use crate::dtype::swap_in_place;
use crate::dtype::DType;
use crate::error::{Error, ErrorKind, Part, Result};
use crate::io::ReadAt;
use crate::ordered_code;
use crate::proto::{BundleEntryProto, BundleHeaderProto, TensorShapeProto, VersionDef};
use crate::slice;
use crate::varint;
use crate::{Endianness, Tensor, TensorData, TensorInfo};

/// TF's `kTensorBundleVersion` / V1 consumer version.
pub const CONSUMER_VERSION: i32 = 1;
/// TF's `kTensorBundleMinProducer`.
pub const MIN_PRODUCER: i32 = 0;
/// TF's `TensorShape` rank limit (the one definition; the writer uses it too).
pub const MAX_RANK: usize = 254;
/// Chunk size of streaming reads.
const CHUNK: usize = 1 << 20;

/// A raw `.index` entry (header excluded), in table order.
#[derive(Clone, Debug, PartialEq)]
pub struct RawEntry {
    pub key: Vec<u8>,
    /// The decoded entry, or the error decoding it.
    pub entry: std::result::Result<BundleEntryProto, Error>,
}

pub use crate::key::printable_key;

pub use crate::path::data_file_name;

/// TF's version check (consumer 1, min producer 0), with TF's wording.
pub fn check_version(v: &VersionDef) -> Result<()> {
    if v.producer < MIN_PRODUCER {
        return Err(Error::new(ErrorKind::Version(format!(
            "Checkpoint producer version {} below min producer {MIN_PRODUCER} supported by this reader.  Please regenerate your checkpoint.",
            v.producer
        ))));
    }
    if v.min_consumer > CONSUMER_VERSION {
        return Err(Error::new(ErrorKind::Version(format!(
            "Checkpoint min consumer version {} above current version {CONSUMER_VERSION} for this reader.  Please upgrade.",
            v.min_consumer
        ))));
    }
    if v.bad_consumers.contains(&CONSUMER_VERSION) {
        return Err(Error::new(ErrorKind::Version(format!(
            "Checkpoint disallows consumer version {CONSUMER_VERSION}.  Please upgrade: this version is likely buggy."
        ))));
    }
    Ok(())
}

/// Validates a shape like TF's `TensorShape::IsValid` (dims ≥ 0, ≤ 254 dims, element count
/// fits i64) and rejects `unknown_rank`. An absent shape is a scalar.
pub fn shape_from_proto(shape: Option<&TensorShapeProto>) -> Result<Vec<u64>> {
    let Some(s) = shape else {
        return Ok(Vec::new());
    };
    let text = || {
        format!(
            "[{}]",
            s.dim
                .iter()
                .map(|d| d.size.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    if s.unknown_rank {
        return Err(Error::corrupt(
            Part::Entry,
            "invalid tensor shape: unknown rank",
        ));
    }
    if s.dim.len() > MAX_RANK {
        return Err(Error::corrupt(
            Part::Entry,
            format!(
                "invalid tensor shape: {} dimensions, at most {MAX_RANK} allowed",
                s.dim.len()
            ),
        ));
    }
    let mut n: i64 = 1;
    let mut out = Vec::with_capacity(s.dim.len());
    for d in &s.dim {
        if d.size < 0 {
            return Err(Error::corrupt(
                Part::Entry,
                format!("invalid tensor shape {}: negative dimension", text()),
            ));
        }
        n = n.checked_mul(d.size).ok_or_else(|| {
            Error::corrupt(
                Part::Entry,
                format!("invalid tensor shape {}: too many elements", text()),
            )
        })?;
        out.push(d.size as u64);
    }
    Ok(out)
}

fn num_elements(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
}

/// Where the data shards come from.
enum Shards {
    Files {
        prefix: PathBuf,
        mmap: bool,
        cache: BTreeMap<i32, OnceLock<Box<dyn ReadAt>>>,
    },
    Memory(Vec<Vec<u8>>),
}

/// An opened V2 bundle. Opening reads only the `.index`; data shards are opened on first use
/// and cached.
pub struct Bundle {
    index_path: PathBuf,
    header: BundleHeaderProto,
    num_data_blocks: usize,
    entries: Vec<RawEntry>,
    shards: Shards,
    verify_crc: bool,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("index_path", &self.index_path)
            .field("header", &self.header)
            .field("entries", &self.entries.len())
            .finish()
    }
}

/// The (validated) description of a bundle key that is a tensor.
pub(crate) struct Described {
    pub infos: Vec<TensorInfo>,
    pub opaque: Vec<crate::OpaqueTensor>,
    pub problems: Vec<crate::EntryProblem>,
}

/// `DataType` value of `DT_VARIANT`.
const DT_VARIANT: i32 = 21;

impl Bundle {
    /// Opens the bundle with this prefix (reads `PREFIX.index` only).
    pub fn open(prefix: &Path, mmap: bool, verify_crc: bool) -> Result<Bundle> {
        if mmap && !cfg!(feature = "mmap") {
            return Err(Error::new(ErrorKind::Unsupported(
                "memory-mapped reading: this build lacks tf-bundle's `mmap` feature".into(),
            ))
            .with_path(prefix));
        }
        let mut index_path = prefix.as_os_str().to_os_string();
        index_path.push(".index");
        let index_path = PathBuf::from(index_path);
        let src = crate::io::open_file(&index_path)?;
        let mut b = Bundle::parse_index(&src, &index_path, verify_crc)?;
        let mut cache = BTreeMap::new();
        for e in &b.entries {
            if let Ok(e) = &e.entry {
                if e.slices.is_empty() && (0..b.header.num_shards).contains(&e.shard_id) {
                    cache.entry(e.shard_id).or_insert_with(OnceLock::new);
                }
            }
        }
        b.shards = Shards::Files {
            prefix: prefix.to_path_buf(),
            mmap,
            cache,
        };
        Ok(b)
    }

    /// A bundle from in-memory bytes: the `.index` file and the data shards in order (used by
    /// tests and fuzzers; errors name the files `<memory>.index` / `<memory>.data-…`).
    pub fn from_memory(index: &[u8], shards: Vec<Vec<u8>>) -> Result<Bundle> {
        let mut b = Bundle::parse_index(&index, Path::new("<memory>.index"), true)?;
        b.shards = Shards::Memory(shards);
        Ok(b)
    }

    fn parse_index(src: &dyn ReadAt, index_path: &Path, verify_crc: bool) -> Result<Bundle> {
        let at = |e: Error| e.with_path(index_path);
        let table = crate::table::Table::parse(src).map_err(at)?;
        let mut all = table.entries(src).map_err(at)?.into_iter();
        let Some((first_key, header_bytes)) = all.next() else {
            return Err(at(Error::corrupt(
                Part::Header,
                "missing header: the index table is empty",
            )));
        };
        if !first_key.is_empty() {
            return Err(at(Error::corrupt(
                Part::Header,
                format!(
                    "missing header: the first key is {:?}, expected the empty key",
                    printable_key(&first_key)
                ),
            )));
        }
        let header = BundleHeaderProto::decode(header_bytes.as_slice()).map_err(|e| {
            at(Error::corrupt(
                Part::Header,
                format!("unable to parse header: {e}"),
            ))
        })?;
        if let Some(v) = &header.version {
            check_version(v).map_err(at)?;
        }
        if !(0..=1).contains(&header.endianness) {
            return Err(at(Error::corrupt(
                Part::Header,
                format!(
                    "header endianness is {}, expected 0 (little) or 1 (big)",
                    header.endianness
                ),
            )));
        }
        let entries: Vec<RawEntry> = all
            .map(|(key, value)| {
                let entry = BundleEntryProto::decode(value.as_slice()).map_err(|e| {
                    Error::corrupt(Part::Header, format!("entry not parseable: {e}"))
                        .with_key(printable_key(&key))
                        .with_path(index_path)
                });
                RawEntry { key, entry }
            })
            .collect();
        if header.num_shards < 0
            || (header.num_shards == 0
                && entries.iter().any(|e| {
                    e.entry
                        .as_ref()
                        .is_ok_and(|e| e.slices.is_empty() && e.size > 0)
                }))
        {
            return Err(at(Error::corrupt(
                Part::Header,
                format!(
                    "header num_shards is {}, but the bundle has tensor data",
                    header.num_shards
                ),
            )));
        }
        Ok(Bundle {
            index_path: index_path.to_path_buf(),
            header,
            num_data_blocks: table.num_data_blocks(),
            entries,
            shards: Shards::Memory(Vec::new()),
            verify_crc,
        })
    }

    /// The decoded header.
    pub fn header(&self) -> &BundleHeaderProto {
        &self.header
    }

    /// Number of data blocks of the `.index` table.
    pub fn num_data_blocks(&self) -> usize {
        self.num_data_blocks
    }

    /// Every raw entry except the header, in table order.
    pub fn raw_entries(&self) -> &[RawEntry] {
        &self.entries
    }

    /// The `.index` path.
    pub fn index_path(&self) -> &Path {
        &self.index_path
    }

    /// `Little` or `Big`.
    pub fn endianness(&self) -> Endianness {
        if self.header.endianness == 1 {
            Endianness::Big
        } else {
            Endianness::Little
        }
    }

    fn big(&self) -> bool {
        self.header.endianness == 1
    }

    /// The entry under `key`.
    pub fn entry(&self, key: &[u8]) -> Option<&RawEntry> {
        self.entries
            .binary_search_by(|e| e.key.as_slice().cmp(key))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Lists tensors like `tf.train.list_variables`: every key except the header and slice
    /// keys (those starting with `0x00`), sorted; keys whose entry cannot be described become
    /// problems.
    pub(crate) fn describe(&self) -> Described {
        let mut infos = Vec::new();
        let mut opaque = Vec::new();
        let mut problems = Vec::new();
        for e in &self.entries {
            if e.key.first() == Some(&0) {
                continue;
            }
            let name = String::from_utf8_lossy(&e.key).into_owned();
            if let Some(o) = self.opaque_of(&name, e) {
                opaque.push(o);
                continue;
            }
            match self.info_of(&name, e) {
                Ok(i) => infos.push(i),
                Err(error) => problems.push(crate::EntryProblem { name, error }),
            }
        }
        Described {
            infos,
            opaque,
            problems,
        }
    }

    /// An unsliced `DT_VARIANT` entry with a valid shape: TF lists and restores it, this crate
    /// can check it but not decode it (docs/tf-bundle-format.md §3.8).
    fn opaque_of(&self, name: &str, e: &RawEntry) -> Option<crate::OpaqueTensor> {
        let entry = e.entry.as_ref().ok()?;
        if entry.dtype != DT_VARIANT || !entry.slices.is_empty() {
            return None;
        }
        let shape = shape_from_proto(entry.shape.as_ref()).ok()?;
        Some(crate::OpaqueTensor {
            name: name.to_string(),
            dtype: "variant",
            shape,
        })
    }

    /// Checks a `DT_VARIANT` tensor (docs/tf-bundle-format.md §3.8): every element's length and masked running
    /// checksum, that each element is a `VariantTensorDataProto`, that the payload is consumed
    /// exactly, and the entry CRC. Returns each element's `type_name` (e.g.
    /// `tensorflow::TensorList`). Decoding the elements needs TF's registered C++ decoders.
    pub fn check_variant(&self, name: &str) -> Result<Vec<String>> {
        let e = self
            .entry(name.as_bytes())
            .filter(|e| e.key.first() != Some(&0))
            .ok_or_else(|| {
                Error::new(ErrorKind::KeyNotFound)
                    .with_key(name)
                    .with_path(&self.index_path)
            })?;
        let at = |err: Error| err.with_key(name);
        let entry = e.entry.as_ref().map_err(|err| at(err.clone()))?;
        if entry.dtype != DT_VARIANT || !entry.slices.is_empty() {
            return Err(at(Error::new(ErrorKind::InvalidArgument(
                "not an unsliced variant tensor".into(),
            ))));
        }
        if self.big() {
            return Err(at(Error::new(ErrorKind::Unsupported(
                "a variant tensor in a big-endian bundle (TensorFlow: Unimplemented)".into(),
            ))
            .with_path(&self.index_path)));
        }
        let shape = shape_from_proto(entry.shape.as_ref())
            .map_err(|err| at(err.with_path(&self.index_path)))?;
        let n = num_elements(&shape).ok_or_else(|| {
            at(Error::corrupt(
                Part::VariantTensor,
                "element count overflows",
            ))
        })?;
        let (src, offset, size) = self.locate_range(entry, n).map_err(at)?;
        let path = self.data_path(entry.shard_id);
        let bytes: Cow<'_, [u8]> = match src.as_slice() {
            Some(all) => Cow::Borrowed(&all[offset as usize..(offset + size) as usize]),
            None => Cow::Owned(
                crate::io::read_vec(src, offset, size).map_err(|err| at(err.with_path(&path)))?,
            ),
        };
        decode_variant_tensor(&bytes, n, entry.crc32c, self.verify_crc)
            .map_err(|err| at(err.with_path(&path)))
    }

    fn info_of(&self, name: &str, e: &RawEntry) -> Result<TensorInfo> {
        let entry = e.entry.as_ref().map_err(Clone::clone)?;
        let at = |err: Error| err.with_key(name).with_path(&self.index_path);
        let dtype = DType::from_proto(entry.dtype)
            .map_err(|u| at(Error::new(ErrorKind::UnsupportedDtype(u.0))))?;
        let shape = shape_from_proto(entry.shape.as_ref()).map_err(at)?;
        Ok(TensorInfo {
            name: name.to_string(),
            dtype,
            shape,
            sliced: !entry.slices.is_empty(),
        })
    }

    fn data_path(&self, shard: i32) -> PathBuf {
        match &self.shards {
            Shards::Files { prefix, .. } => {
                data_file_name(prefix, shard as i64, i64::from(self.header.num_shards))
            }
            Shards::Memory(_) => data_file_name(
                Path::new("<memory>"),
                shard as i64,
                i64::from(self.header.num_shards),
            ),
        }
    }

    fn shard(&self, shard: i32) -> Result<&dyn ReadAt> {
        match &self.shards {
            Shards::Memory(v) => usize::try_from(shard)
                .ok()
                .and_then(|i| v.get(i))
                .map(|b| b as &dyn ReadAt)
                .ok_or_else(|| Error::new(ErrorKind::MissingFile).with_path(self.data_path(shard))),
            Shards::Files { mmap, cache, .. } => {
                let lock = cache.get(&shard).ok_or_else(|| {
                    Error::corrupt(
                        Part::Entry,
                        format!("shard id {shard} is outside 0..{}", self.header.num_shards),
                    )
                })?;
                if let Some(s) = lock.get() {
                    return Ok(s.as_ref());
                }
                let path = self.data_path(shard);
                let src: Box<dyn ReadAt> = if *mmap {
                    open_mmap(&path)?
                } else {
                    Box::new(crate::io::open_file(&path)?)
                };
                let _ = lock.set(src);
                lock.get()
                    .map(|s| s.as_ref())
                    .ok_or_else(|| Error::corrupt(Part::Entry, "shard cache"))
            }
        }
    }

    /// Checks an unsliced entry's location and size rules and returns its shard and range.
    fn locate(
        &self,
        entry: &BundleEntryProto,
        dtype: DType,
        n: u64,
    ) -> Result<(&dyn ReadAt, u64, u64)> {
        self.check_location(entry)?;
        let size = entry.size as u64;
        if let Some(es) = dtype.element_size() {
            let expected = n.checked_mul(es as u64);
            if expected != Some(size) {
                return Err(Error::corrupt(
                    Part::Data,
                    format!(
                        "invalid size in bundle entry: stored size {size}; expected size {}",
                        expected.map_or("overflow".into(), |e| e.to_string())
                    ),
                )
                .with_path(&self.index_path));
            }
        }
        self.range_of(entry, n)
    }

    /// The shard and byte range of an unsliced entry, checked against the shard's length; a
    /// variable-length dtype needs at least one byte per element.
    fn locate_range(&self, entry: &BundleEntryProto, n: u64) -> Result<(&dyn ReadAt, u64, u64)> {
        self.check_location(entry)?;
        self.range_of(entry, n)
    }

    /// The entry names a shard of the header and a non-negative offset and size.
    fn check_location(&self, entry: &BundleEntryProto) -> Result<()> {
        if !(0..self.header.num_shards).contains(&entry.shard_id) {
            return Err(Error::corrupt(
                Part::Entry,
                format!(
                    "shard_id {} is outside 0..{} (header num_shards)",
                    entry.shard_id, self.header.num_shards
                ),
            )
            .with_path(&self.index_path));
        }
        if entry.offset < 0 || entry.size < 0 {
            return Err(Error::corrupt(
                Part::Entry,
                format!("negative offset {} or size {}", entry.offset, entry.size),
            )
            .with_path(&self.index_path));
        }
        Ok(())
    }

    /// [`Bundle::locate_range`] after [`Bundle::check_location`].
    fn range_of(&self, entry: &BundleEntryProto, n: u64) -> Result<(&dyn ReadAt, u64, u64)> {
        let (offset, size) = (entry.offset as u64, entry.size as u64);
        if size < n {
            return Err(Error::corrupt(
                Part::Entry,
                format!(
                "invalid size in bundle entry: stored size {size}; expected size is at least {n}"
            ),
            )
            .with_path(&self.index_path));
        }
        if size == 0 {
            // Nothing to read: like TF, do not require the data file for empty payloads.
            static EMPTY: &[u8] = &[];
            return Ok((&EMPTY, 0, 0));
        }
        // the data file's name is built only for an error message
        let path = || self.data_path(entry.shard_id);
        let src = self
            .shard(entry.shard_id)
            .map_err(|e| e.with_path(path()))?;
        let end = offset.checked_add(size);
        if end.is_none_or(|e| e > src.size()) {
            return Err(Error::truncated(
                Part::Entry,
                format!(
                    "tensor bytes {offset}..{} lie past the end of the data file ({} bytes)",
                    end.map_or("overflow".into(), |e| e.to_string()),
                    src.size()
                ),
            )
            .with_path(path()));
        }
        Ok((src, offset, size))
    }

    /// Reads the payload of an unsliced entry and checks its CRC (numeric dtypes) or decodes
    /// and checks it (strings). Little-endian numeric data from an in-memory source is
    /// borrowed.
    fn read_plain(
        &self,
        entry: &BundleEntryProto,
        dtype: DType,
        shape: &[u64],
    ) -> Result<PlainData<'_>> {
        let n = num_elements(shape)
            .ok_or_else(|| Error::corrupt(Part::Entry, "element count overflows"))?;
        let (src, offset, size) = self.locate(entry, dtype, n)?;
        let at = |e: Error| e.with_path(self.data_path(entry.shard_id));
        let bytes: Cow<'_, [u8]> = match src.as_slice() {
            Some(all) => Cow::Borrowed(&all[offset as usize..(offset + size) as usize]),
            None => Cow::Owned(crate::io::read_vec(src, offset, size).map_err(at)?),
        };
        if dtype == DType::String {
            if size == 0 {
                // TF returns N empty strings without reading (no writer produces this).
                return Ok(PlainData::Strings(vec![Vec::new(); n as usize]));
            }
            let strings =
                decode_string_tensor(&bytes, n, entry.crc32c, self.big(), self.verify_crc)
                    .map_err(at)?;
            return Ok(PlainData::Strings(strings));
        }
        if self.verify_crc {
            check_crc(&bytes, entry.crc32c).map_err(at)?;
        }
        if self.big() && dtype.swap_unit() > 1 {
            let mut v = bytes.into_owned();
            swap_in_place(&mut v, dtype.swap_unit());
            return Ok(PlainData::Bytes(Cow::Owned(v)));
        }
        Ok(PlainData::Bytes(bytes))
    }

    fn full_entry(&self, name: &str) -> Result<(&[u8], &BundleEntryProto, TensorInfo)> {
        // Keys that are not UTF-8 are listed under their lossy name: find those too.
        let e = self
            .entry(name.as_bytes())
            .or_else(|| {
                self.entries.iter().find(|e| {
                    std::str::from_utf8(&e.key).is_err() && String::from_utf8_lossy(&e.key) == name
                })
            })
            .filter(|e| e.key.first() != Some(&0))
            .ok_or_else(|| {
                Error::new(ErrorKind::KeyNotFound)
                    .with_key(name)
                    .with_path(&self.index_path)
            })?;
        let info = self.info_of(name, e)?;
        let entry = e.entry.as_ref().map_err(Clone::clone)?;
        Ok((&e.key, entry, info))
    }

    /// Reads a whole tensor (partitioned tensors assembled), CRC-checked, little-endian.
    pub fn read(&self, name: &str) -> Result<Tensor> {
        let (key, entry, info) = self.full_entry(name)?;
        let at = |e: Error| e.with_key(name);
        let data = if entry.slices.is_empty() {
            match self
                .read_plain(entry, info.dtype, &info.shape)
                .map_err(at)?
            {
                PlainData::Bytes(b) => TensorData::Bytes(b.into_owned()),
                PlainData::Strings(s) => TensorData::Strings(s),
            }
        } else {
            self.assemble(name, key, entry, &info).map_err(at)?
        };
        Ok(Tensor {
            dtype: info.dtype,
            shape: info.shape,
            data,
        })
    }

    /// The little-endian bytes of a numeric tensor, borrowed when possible (unsliced,
    /// little-endian, memory-mapped or in-memory shard).
    pub fn read_bytes(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        let (key, entry, info) = self.full_entry(name)?;
        let at = |e: Error| e.with_key(name);
        if info.dtype == DType::String {
            return Err(at(Error::new(ErrorKind::InvalidArgument(
                "a string tensor has no raw bytes".into(),
            ))));
        }
        if entry.slices.is_empty() {
            match self
                .read_plain(entry, info.dtype, &info.shape)
                .map_err(at)?
            {
                PlainData::Bytes(b) => Ok(b),
                PlainData::Strings(_) => {
                    Err(at(Error::corrupt(Part::Entry, "unexpected string data")))
                }
            }
        } else {
            match self.assemble(name, key, entry, &info).map_err(at)? {
                TensorData::Bytes(b) => Ok(Cow::Owned(b)),
                TensorData::Strings(_) => {
                    Err(at(Error::corrupt(Part::Entry, "unexpected string data")))
                }
            }
        }
    }

    /// Streams a numeric tensor's little-endian bytes to `out` in bounded chunks, checking the
    /// CRC at the end (a mismatch is an error after the bytes were written).
    pub fn read_raw_to(&self, name: &str, out: &mut dyn std::io::Write) -> Result<u64> {
        let (key, entry, info) = self.full_entry(name)?;
        let at = |e: Error| e.with_key(name);
        if info.dtype == DType::String {
            return Err(at(Error::new(ErrorKind::InvalidArgument(
                "a string tensor has no raw bytes".into(),
            ))));
        }
        let write_err = |e: std::io::Error| at(Error::io("write", &e));
        if !entry.slices.is_empty() {
            let TensorData::Bytes(b) = self.assemble(name, key, entry, &info).map_err(at)? else {
                return Err(at(Error::corrupt(Part::Entry, "unexpected string data")));
            };
            out.write_all(&b).map_err(write_err)?;
            return Ok(b.len() as u64);
        }
        let n = info
            .num_elements()
            .ok_or_else(|| at(Error::corrupt(Part::Entry, "element count overflows")))?;
        let (src, offset, size) = self.locate(entry, info.dtype, n).map_err(at)?;
        let path = || self.data_path(entry.shard_id);
        let swap = self.big() && info.dtype.swap_unit() > 1;
        let mut crc_acc = 0u32;
        // in memory or memory-mapped, little-endian: write straight from the source (`locate`
        // checked offset + size against the source's length)
        let borrowed = src.as_slice().filter(|_| !swap).and_then(|all| {
            all.get(usize::try_from(offset).ok()?..usize::try_from(offset + size).ok()?)
        });
        match borrowed {
            Some(bytes) => {
                for chunk in bytes.chunks(CHUNK) {
                    crc_acc = crc::extend(crc_acc, chunk);
                    out.write_all(chunk).map_err(write_err)?;
                }
            }
            None => {
                let mut buf = vec![0u8; CHUNK.min(size as usize)];
                let mut done = 0u64;
                while done < size {
                    let len = (size - done).min(CHUNK as u64) as usize;
                    let chunk = &mut buf[..len];
                    src.read_exact_at(offset + done, chunk)
                        .map_err(|e| at(Error::io("read", &e).with_path(path())))?;
                    crc_acc = crc::extend(crc_acc, chunk);
                    if swap {
                        swap_in_place(chunk, info.dtype.swap_unit());
                    }
                    out.write_all(chunk).map_err(write_err)?;
                    done += len as u64;
                }
            }
        }
        if self.verify_crc && crc::unmask(entry.crc32c) != crc_acc {
            return Err(at(checksum_error(entry.crc32c, crc_acc).with_path(path())));
        }
        Ok(size)
    }

    /// Reads and checks the payload of any raw entry that has data (used by `verify` to
    /// check slice entries, including ones no tensor refers to).
    pub fn check_raw_entry(&self, e: &RawEntry) -> Result<()> {
        let key = printable_key(&e.key);
        let at = |err: Error| err.with_key(key.clone());
        let entry = e.entry.as_ref().map_err(|err| at(err.clone()))?;
        if !entry.slices.is_empty() {
            return Ok(());
        }
        let dtype = DType::from_proto(entry.dtype).map_err(|u| {
            at(Error::new(ErrorKind::UnsupportedDtype(u.0)).with_path(&self.index_path))
        })?;
        let shape = shape_from_proto(entry.shape.as_ref())
            .map_err(|err| at(err.with_path(&self.index_path)))?;
        self.read_plain(entry, dtype, &shape).map_err(at)?;
        Ok(())
    }

    /// Finds and checks every slice entry of a partitioned tensor (regions in bounds,
    /// disjoint, covering it; entries present with the tensor's dtype and the slice's shape;
    /// their bytes inside the data files), so an output allocation is bounded by data that
    /// really exists.
    fn slice_parts<'s>(
        &'s self,
        name: &str,
        full_key: &[u8],
        full: &BundleEntryProto,
        info: &TensorInfo,
    ) -> Result<Vec<SlicePart<'s>>> {
        let total = info
            .num_elements()
            .ok_or_else(|| Error::corrupt(Part::Slice, "element count overflows"))?;
        let stored: Vec<slice::Extents> = full.slices.iter().map(slice::from_proto).collect();
        let mut regions = Vec::with_capacity(stored.len());
        for ext in &stored {
            regions
                .push(slice::resolve(ext, &info.shape).map_err(|e| e.with_path(&self.index_path))?);
        }
        slice::check_cover(&regions, total, &stored).map_err(|e| e.with_path(&self.index_path))?;
        let mut parts = Vec::with_capacity(stored.len());
        let mut claimed: u64 = 0;
        let mut shard_sizes: BTreeMap<i32, u64> = BTreeMap::new();
        for (ext, region) in stored.iter().zip(regions) {
            let key = ordered_code::encode_slice_key(full_key, ext);
            let what = format!("slice {} of {name}", slice::display(ext));
            let raw = self.entry(&key).ok_or_else(|| {
                Error::new(ErrorKind::Slices(format!(
                    "{what}: its entry {} is not in the index",
                    printable_key(&key)
                )))
                .with_path(&self.index_path)
            })?;
            let entry = raw.entry.as_ref().map_err(Clone::clone)?;
            if entry.dtype != full.dtype {
                return Err(Error::new(ErrorKind::Slices(format!(
                    "{what}: dtype {} differs from the tensor's {}",
                    entry.dtype, full.dtype
                )))
                .with_path(&self.index_path));
            }
            let shape = shape_from_proto(entry.shape.as_ref())
                .map_err(|e| e.with_path(&self.index_path))?;
            let want: Vec<u64> = region.iter().map(|r| r.1).collect();
            if shape != want || !entry.slices.is_empty() {
                return Err(Error::new(ErrorKind::Slices(format!(
                    "{what}: stored shape {shape:?} differs from the slice shape {want:?}"
                )))
                .with_path(&self.index_path));
            }
            let n = slice::region_elements(&region).unwrap_or(0);
            let (src, offset, size) = self.locate(entry, info.dtype, n)?;
            claimed = claimed.saturating_add(size);
            shard_sizes.insert(entry.shard_id, src.size());
            parts.push(SlicePart {
                entry,
                shape,
                region,
                src,
                offset,
                size,
            });
        }
        // Slices of one tensor occupy disjoint bytes: more than the shards hold means entries
        // share bytes, which would let a small file demand a huge output buffer.
        let available: u64 = shard_sizes.values().fold(0u64, |a, &b| a.saturating_add(b));
        if claimed > available {
            return Err(Error::corrupt(Part::Slice, format!(
                "the slices of {name} claim {claimed} bytes, but their data files hold only {available}"
            ))
            .with_path(&self.index_path));
        }
        Ok(parts)
    }

    /// Where a numeric tensor's bytes lie, in output (C) order, when they can be streamed
    /// without assembling: `Some` for unsliced tensors and for partitioned tensors whose
    /// slices are each one contiguous run of the full tensor (e.g. TF's usual split along the
    /// first axis); `None` when the slices interleave (the tensor must be assembled whole).
    /// Every check of [`Bundle::read`] except the CRCs is done here; the CRCs are checked as
    /// the bytes are read (see [`crate::stream`]).
    pub(crate) fn layout(&self, name: &str) -> Result<Option<crate::stream::Layout<'_>>> {
        use crate::stream::{Layout, Segment};
        let (key, entry, info) = self.full_entry(name)?;
        let at = |e: Error| e.with_key(name);
        if info.dtype == DType::String {
            return Err(at(Error::new(ErrorKind::InvalidArgument(
                "a string tensor has no raw bytes".into(),
            ))));
        }
        let swap = if self.big() {
            info.dtype.swap_unit()
        } else {
            1
        };
        let es = info.dtype.element_size().unwrap_or(1) as u64;
        let mut segments = Vec::new();
        if entry.slices.is_empty() {
            let n = info
                .num_elements()
                .ok_or_else(|| at(Error::corrupt(Part::Entry, "element count overflows")))?;
            let (src, offset, size) = self.locate(entry, info.dtype, n).map_err(at)?;
            segments.push(Segment {
                src,
                path: self.data_path(entry.shard_id),
                file_offset: offset,
                out_offset: 0,
                len: size,
                crc: crc::unmask(entry.crc32c),
            });
        } else {
            let parts = self.slice_parts(name, key, entry, &info).map_err(at)?;
            for p in parts {
                let Some(start) = slice::contiguous_start(&info.shape, &p.region) else {
                    return Ok(None);
                };
                segments.push(Segment {
                    src: p.src,
                    path: self.data_path(p.entry.shard_id),
                    file_offset: p.offset,
                    out_offset: start.saturating_mul(es),
                    len: p.size,
                    crc: crc::unmask(p.entry.crc32c),
                });
            }
            segments.sort_by_key(|s| s.out_offset);
        }
        let len = info
            .nbytes()
            .ok_or_else(|| at(Error::corrupt(Part::Entry, "tensor size overflows")))?;
        Layout::new(
            name.to_string(),
            info.dtype,
            len,
            swap,
            self.verify_crc,
            segments,
        )
        .map(Some)
        .map_err(at)
    }

    fn assemble(
        &self,
        name: &str,
        full_key: &[u8],
        full: &BundleEntryProto,
        info: &TensorInfo,
    ) -> Result<TensorData> {
        let total = info
            .num_elements()
            .ok_or_else(|| Error::corrupt(Part::Entry, "element count overflows"))?;
        let parts = self.slice_parts(name, full_key, full, info)?;
        match info.dtype.element_size() {
            Some(es) => {
                let nbytes = usize::try_from(total.saturating_mul(es as u64))
                    .map_err(|_| Error::corrupt(Part::Entry, "tensor too large for memory"))?;
                let mut out = vec![0u8; nbytes];
                for p in parts {
                    let PlainData::Bytes(b) = self.read_plain(p.entry, info.dtype, &p.shape)?
                    else {
                        return Err(Error::corrupt(Part::Entry, "unexpected string data"));
                    };
                    slice::copy_region(&mut out, &info.shape, &p.region, &b, es)?;
                }
                Ok(TensorData::Bytes(out))
            }
            None => {
                let mut out = vec![Vec::new(); total as usize];
                for p in parts {
                    let PlainData::Strings(s) = self.read_plain(p.entry, info.dtype, &p.shape)?
                    else {
                        return Err(Error::corrupt(Part::Entry, "unexpected numeric data"));
                    };
                    slice::copy_region(&mut out, &info.shape, &p.region, &s, 1)?;
                }
                Ok(TensorData::Strings(out))
            }
        }
    }
}

/// One checked slice entry of a partitioned tensor.
struct SlicePart<'a> {
    entry: &'a BundleEntryProto,
    shape: Vec<u64>,
    region: slice::Region,
    src: &'a dyn ReadAt,
    offset: u64,
    size: u64,
}

enum PlainData<'a> {
    Bytes(Cow<'a, [u8]>),
    Strings(Vec<Vec<u8>>),
}

#[cfg(feature = "mmap")]
fn open_mmap(path: &Path) -> Result<Box<dyn ReadAt>> {
    Ok(Box::new(crate::io::open_mmap(path)?))
}

#[cfg(not(feature = "mmap"))]
fn open_mmap(path: &Path) -> Result<Box<dyn ReadAt>> {
    Err(Error::new(ErrorKind::Unsupported(
        "memory-mapped reading: this build lacks the `mmap` feature".into(),
    ))
    .with_path(path))
}

fn checksum_error(stored_masked: u32, computed: u32) -> Error {
    Error::new(ErrorKind::Checksum {
        what: "tensor data".into(),
        stored: crc::unmask(stored_masked),
        computed,
    })
}

/// Checks a numeric payload against the entry's masked CRC32C.
pub fn check_crc(payload: &[u8], stored_masked: u32) -> Result<()> {
    let c = crc::crc32c(payload);
    if crc::unmask(stored_masked) != c {
        return Err(checksum_error(stored_masked, c));
    }
    Ok(())
}

/// Extends a string tensor's CRC with one element length as TF hashes it (docs/tf-bundle-format.md §3.7): as a
/// u32 when it fits, else as a u64, in the bundle's byte order.
pub(crate) fn extend_string_length_crc(crc: u32, len: u64, big_endian: bool) -> u32 {
    match (u32::try_from(len), big_endian) {
        (Ok(l), false) => crc::extend(crc, &l.to_le_bytes()),
        (Ok(l), true) => crc::extend(crc, &l.to_be_bytes()),
        (Err(_), false) => crc::extend(crc, &len.to_le_bytes()),
        (Err(_), true) => crc::extend(crc, &len.to_be_bytes()),
    }
}

/// Checks a `DT_VARIANT` payload of `n` elements (docs/tf-bundle-format.md §3.8): per element a varint64 length
/// `len`, `len` bytes of a serialized `VariantTensorDataProto`, and the 4-byte masked running
/// checksum (over the 8-byte little-endian `len`, the bytes and the earlier checksums);
/// `stored_masked` is checked against the final running checksum (if `verify`). Returns each
/// element's `type_name`.
pub fn decode_variant_tensor(
    payload: &[u8],
    n: u64,
    stored_masked: u32,
    verify: bool,
) -> Result<Vec<String>> {
    use prost::Message as _;
    // Every element needs at least one length byte and 4 checksum bytes.
    if n.checked_mul(5)
        .is_none_or(|need| need > payload.len() as u64)
    {
        return Err(Error::corrupt(
            Part::VariantTensor,
            format!(
                "variant tensor of {n} elements cannot fit in {} bytes",
                payload.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(n as usize);
    let mut pos = 0usize;
    let mut c = 0u32;
    for i in 0..n {
        let (len, used) = varint::decode_u64(&payload[pos..]).ok_or_else(|| {
            Error::corrupt(
                Part::VariantTensor,
                format!(
                    "variant element {i}: length is not a valid varint at payload offset {pos}"
                ),
            )
        })?;
        pos += used;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|&e| e.checked_add(4).is_some_and(|x| x <= payload.len()))
            .ok_or_else(|| {
                Error::corrupt(Part::VariantTensor, format!(
                    "variant element {i}: {len} bytes (and its checksum) do not fit in the {}-byte payload at offset {pos}",
                    payload.len()
                ))
            })?;
        c = crc::extend(c, &len.to_le_bytes());
        let body = &payload[pos..end];
        c = crc::extend(c, body);
        let stored = u32::from_le_bytes([
            payload[end],
            payload[end + 1],
            payload[end + 2],
            payload[end + 3],
        ]);
        if verify && crc::unmask(stored) != c {
            return Err(Error::new(ErrorKind::Checksum {
                what: format!("variant element {i}"),
                stored: crc::unmask(stored),
                computed: c,
            }));
        }
        c = crc::extend(c, &payload[end..end + 4]);
        let proto = crate::proto::VariantTensorDataProto::decode(body).map_err(|e| {
            Error::corrupt(Part::VariantTensor, format!(
                "variant element {i}: unable to parse VariantTensorDataProto from buffer of size {len}: {e}"
            ))
        })?;
        out.push(proto.type_name);
        pos = end + 4;
    }
    if pos != payload.len() {
        return Err(Error::corrupt(
            Part::VariantTensor,
            format!(
                "variant payload has {} bytes after its {n} elements",
                payload.len() - pos
            ),
        ));
    }
    if verify && crc::unmask(stored_masked) != c {
        return Err(checksum_error(stored_masked, c));
    }
    Ok(out)
}

/// Decodes a `DT_STRING` payload of `n` elements (docs/tf-bundle-format.md §3.7): `n` varint64 lengths, the
/// masked length checksum, the bytes. Checks the length checksum, that the payload is
/// consumed exactly, and (if `verify`) the entry CRC `stored_masked`. `big_endian`: the
/// lengths are hashed and the length checksum stored big-endian.
pub fn decode_string_tensor(
    payload: &[u8],
    n: u64,
    stored_masked: u32,
    big_endian: bool,
    verify: bool,
) -> Result<Vec<Vec<u8>>> {
    // Every element needs at least one length byte, plus 4 checksum bytes.
    if n.checked_add(4)
        .is_none_or(|need| need > payload.len() as u64)
    {
        return Err(Error::corrupt(
            Part::StringTensor,
            format!(
                "string tensor of {n} elements cannot fit in {} bytes",
                payload.len()
            ),
        ));
    }
    let mut lengths = Vec::with_capacity(n as usize);
    let mut pos = 0usize;
    let mut c = 0u32;
    let mut total: u64 = 0;
    for i in 0..n {
        let (len, used) = varint::decode_u64(&payload[pos..]).ok_or_else(|| {
            Error::corrupt(
                Part::StringTensor,
                format!("string length {i} is not a valid varint at payload offset {pos}"),
            )
        })?;
        pos += used;
        c = extend_string_length_crc(c, len, big_endian);
        // Summed saturating: whether they fit is decided after the length checksum, so that a
        // corrupted length is reported as the checksum failure it is (as TF does).
        total = total.saturating_add(len);
        lengths.push(usize::try_from(len).unwrap_or(usize::MAX));
    }
    let lengths_fit = total <= payload.len() as u64;
    let lc = payload.get(pos..pos + 4).ok_or_else(|| {
        Error::corrupt(
            Part::StringTensor,
            format!(
                "string lengths longer than expected: they end at {pos} of a {}-byte payload",
                payload.len()
            ),
        )
    })?;
    let stored_lc = if big_endian {
        u32::from_be_bytes([lc[0], lc[1], lc[2], lc[3]])
    } else {
        u32::from_le_bytes([lc[0], lc[1], lc[2], lc[3]])
    };
    if verify && crc::unmask(stored_lc) != c {
        return Err(Error::new(ErrorKind::Checksum {
            what: "string length".into(),
            stored: crc::unmask(stored_lc),
            computed: c,
        }));
    }
    c = crc::extend(c, lc);
    pos += 4;
    if !lengths_fit {
        return Err(Error::corrupt(
            Part::StringTensor,
            format!(
                "string lengths add up to more than the {}-byte payload",
                payload.len()
            ),
        ));
    }
    if (payload.len() - pos) as u64 != total {
        return Err(Error::corrupt(
            Part::StringTensor,
            format!(
                "string payload has {} bytes after the lengths, the lengths add up to {total}",
                payload.len() - pos
            ),
        ));
    }
    let mut out = Vec::with_capacity(lengths.len());
    for len in lengths {
        let s = &payload[pos..pos + len];
        c = crc::extend(c, s);
        out.push(s.to_vec());
        pos += len;
    }
    if verify && crc::unmask(stored_masked) != c {
        return Err(checksum_error(stored_masked, c));
    }
    Ok(out)
}
