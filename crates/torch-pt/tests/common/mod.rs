//! Builders shared by the integration tests: raw pickles and archives around them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
#![allow(dead_code)]

use std::io::{Cursor, Write};

use torch_pt::zip::ZipWriter;

/// A `.pt` archive under root `root` with `data.pkl` = `pkl`, a `version` record and the given
/// `data/<key>` storages.
pub fn archive_with(
    root: &str,
    pkl: &[u8],
    storages: &[(&str, &[u8])],
    extra: &[(&str, &[u8])],
) -> Vec<u8> {
    let mut z = ZipWriter::new(Cursor::new(Vec::new()), false);
    let mut add = |name: String, b: &[u8]| {
        z.add(&name, b.len() as u64, &mut |w: &mut dyn Write| {
            w.write_all(b)
        })
        .unwrap();
    };
    for (k, b) in storages {
        add(format!("{root}/data/{k}"), b);
    }
    add(format!("{root}/data.pkl"), pkl);
    for (n, b) in extra {
        add(format!("{root}/{n}"), b);
    }
    z.finish().unwrap().into_inner()
}

/// [`archive_with`] with root `archive` and `version` = `3\n`.
pub fn archive(pkl: &[u8], storages: &[(&str, &[u8])]) -> Vec<u8> {
    archive_with("archive", pkl, storages, &[("version", b"3\n")])
}

/// A tiny pickle assembler.
#[derive(Default)]
pub struct P(pub Vec<u8>);

impl P {
    pub fn new() -> P {
        P(vec![0x80, 2])
    }
    pub fn op(mut self, b: &[u8]) -> P {
        self.0.extend_from_slice(b);
        self
    }
    pub fn global(self, module: &str, name: &str) -> P {
        self.op(format!("c{module}\n{name}\n").as_bytes())
    }
    pub fn str(mut self, s: &str) -> P {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    pub fn int(mut self, x: u32) -> P {
        self.0.push(b'J');
        self.0.extend_from_slice(&(x as i32).to_le_bytes());
        self
    }
    pub fn long(mut self, x: i64) -> P {
        self.0.extend_from_slice(&[0x8a, 8]);
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    /// `('storage', torch.<class>, key, 'cpu', numel)` + BINPERSID.
    pub fn storage(self, class: &str, key: &str, numel: i64) -> P {
        self.op(b"(")
            .str("storage")
            .global("torch", class)
            .str(key)
            .str("cpu")
            .long(numel)
            .op(b"tQ")
    }
    /// `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`.
    pub fn tensor(
        self,
        class: &str,
        key: &str,
        numel: i64,
        offset: i64,
        size: &[i64],
        stride: &[i64],
    ) -> P {
        let mut p = self
            .global("torch._utils", "_rebuild_tensor_v2")
            .op(b"(")
            .storage(class, key, numel)
            .long(offset)
            .op(b"(");
        for &s in size {
            p = p.long(s);
        }
        p = p.op(b"t(");
        for &s in stride {
            p = p.long(s);
        }
        p.op(b"t\x89")
            .global("collections", "OrderedDict")
            .op(b")RtR")
    }
    pub fn stop(self) -> Vec<u8> {
        let mut v = self.0;
        v.push(b'.');
        v
    }
}

/// `{"w": <tensor>}` pickle with one float32 tensor of `n` elements in storage "0".
pub fn one_tensor_pickle(n: i64) -> Vec<u8> {
    P::new()
        .op(b"}(")
        .str("w")
        .tensor("FloatStorage", "0", n, 0, &[n], &[1])
        .op(b"u")
        .stop()
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
