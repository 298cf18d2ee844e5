//! The TF `checkpoint` state file (docs/tf-bundle-format.md §8): a text-format `CheckpointState`.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Part, Result};

/// The largest `checkpoint` state file read (real ones are a few hundred bytes).
pub const MAX_STATE_FILE: u64 = 1 << 20;

/// The parsed `checkpoint` file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckpointState {
    /// The newest checkpoint (a prefix for V2, a path or glob for V1), as written.
    pub model_checkpoint_path: String,
    /// Oldest → newest, as written.
    pub all_model_checkpoint_paths: Vec<String>,
    pub all_model_checkpoint_timestamps: Vec<f64>,
    pub last_preserved_timestamp: f64,
}

impl CheckpointState {
    /// Parses the text format: `field: value` pairs (several per line allowed), `#` comments,
    /// strings in double or single quotes with C escapes (`\n \t \r \" \' \\`, octal `\ooo`,
    /// hex `\xHH`); unknown fields are ignored. Strings are decoded as UTF-8 (lossy).
    pub fn parse(text: &str) -> Result<CheckpointState> {
        let mut st = CheckpointState::default();
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        loop {
            p.skip_ws();
            if p.i >= p.s.len() {
                break;
            }
            let field = p.ident()?;
            p.skip_ws();
            if p.peek() == Some(b':') {
                p.i += 1;
            } else if p.peek() != Some(b'{') {
                return Err(p.err(&format!("expected ':' after {field}")));
            }
            p.skip_ws();
            match field.as_str() {
                "model_checkpoint_path" => st.model_checkpoint_path = p.string()?,
                "all_model_checkpoint_paths" => st.all_model_checkpoint_paths.push(p.string()?),
                "all_model_checkpoint_timestamps" => {
                    st.all_model_checkpoint_timestamps.push(p.number()?)
                }
                "last_preserved_timestamp" => st.last_preserved_timestamp = p.number()?,
                _ => p.skip_value()?,
            }
            p.skip_ws();
            if matches!(p.peek(), Some(b',' | b';')) {
                p.i += 1;
            }
        }
        Ok(st)
    }

    /// Reads `dir/checkpoint`; `Ok(None)` if it does not exist.
    pub fn read_dir(dir: &Path) -> Result<Option<CheckpointState>> {
        let path = dir.join("checkpoint");
        match std::fs::metadata(&path) {
            Ok(m) if m.len() > MAX_STATE_FILE => {
                return Err(Error::corrupt(
                    Part::StateFile,
                    format!(
                "{} bytes is too large for a `checkpoint` state file (at most {MAX_STATE_FILE})",
                m.len()
            ),
                )
                .with_path(&path))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            _ => {}
        }
        match std::fs::read(&path) {
            Ok(bytes) => CheckpointState::parse(&String::from_utf8_lossy(&bytes))
                .map(Some)
                .map_err(|e| e.with_path(&path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &e).with_path(&path)),
        }
    }

    /// `model_checkpoint_path` resolved against `dir` (TF joins relative paths onto the
    /// directory holding the `checkpoint` file). Empty → error, as in TF.
    pub fn model_path_in(&self, dir: &Path) -> Result<PathBuf> {
        if self.model_checkpoint_path.is_empty() {
            return Err(Error::new(ErrorKind::NoCheckpoint(format!(
                "invalid checkpoint state loaded from {}: empty model_checkpoint_path",
                dir.display()
            ))));
        }
        Ok(resolve_in(dir, &self.model_checkpoint_path))
    }
}

/// Joins a path from a state file onto its directory unless it is absolute.
pub fn resolve_in(dir: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, m: &str) -> Error {
        Error::corrupt(
            Part::StateFile,
            format!("checkpoint state text, byte {}: {m}", self.i),
        )
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'#' {
                while self.peek().is_some_and(|c| c != b'\n') {
                    self.i += 1;
                }
            } else if c.is_ascii_whitespace() {
                self.i += 1;
            } else {
                break;
            }
        }
    }
    fn ident(&mut self) -> Result<String> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.i += 1;
        }
        if start == self.i {
            return Err(self.err("expected a field name"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn number(&mut self) -> Result<f64> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'+'))
        {
            self.i += 1;
        }
        let t = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        let t = t.trim_end_matches(['f', 'F']);
        match t.to_ascii_lowercase().as_str() {
            "inf" | "infinity" => return Ok(f64::INFINITY),
            "-inf" | "-infinity" => return Ok(f64::NEG_INFINITY),
            "nan" => return Ok(f64::NAN),
            _ => {}
        }
        t.parse::<f64>()
            .map_err(|_| self.err(&format!("expected a number, found {t:?}")))
    }
    fn string(&mut self) -> Result<String> {
        let mut out = Vec::new();
        // Adjacent string literals concatenate.
        while let Some(q @ (b'"' | b'\'')) = self.peek() {
            self.i += 1;
            loop {
                let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                self.i += 1;
                if c == q {
                    break;
                }
                if c != b'\\' {
                    out.push(c);
                    continue;
                }
                let e = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
                self.i += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'v' => out.push(11),
                    b'0'..=b'7' => {
                        let mut v = u32::from(e - b'0');
                        for _ in 0..2 {
                            match self.peek() {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    self.i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push((v & 0xff) as u8);
                    }
                    b'x' | b'X' => {
                        let mut v = 0u32;
                        let mut k = 0;
                        while k < 2 {
                            match self.peek().and_then(|d| (d as char).to_digit(16)) {
                                Some(d) => {
                                    v = v * 16 + d;
                                    self.i += 1;
                                    k += 1;
                                }
                                None => break,
                            }
                        }
                        if k == 0 {
                            return Err(self.err("\\x without hex digits"));
                        }
                        out.push(v as u8);
                    }
                    other => out.push(other),
                }
            }
            self.skip_ws();
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
    fn skip_value(&mut self) -> Result<()> {
        match self.peek() {
            Some(b'"' | b'\'') => {
                self.string()?;
            }
            Some(b'{') => {
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Ok(());
                            }
                        }
                        b'"' | b'\'' => {
                            self.string()?;
                            continue;
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                return Err(self.err("unterminated message"));
            }
            _ => {
                self.number()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_checkpoint_manager_state() {
        let text = "model_checkpoint_path: \"ckpt-3\"\nall_model_checkpoint_paths: \"ckpt-2\"\nall_model_checkpoint_paths: \"ckpt-3\"\nall_model_checkpoint_timestamps: 1795867886.1688778\nall_model_checkpoint_timestamps: 1795867886.1847305\nlast_preserved_timestamp: 1795867885.0728636\n";
        let st = CheckpointState::parse(text).unwrap();
        assert_eq!(st.model_checkpoint_path, "ckpt-3");
        assert_eq!(st.all_model_checkpoint_paths, vec!["ckpt-2", "ckpt-3"]);
        assert_eq!(st.all_model_checkpoint_timestamps.len(), 2);
        assert!((st.last_preserved_timestamp - 1_795_867_885.072_863_6).abs() < 1e-6);
        assert_eq!(
            st.model_path_in(Path::new("d")).unwrap(),
            Path::new("d/ckpt-3")
        );
    }

    #[test]
    fn escapes_comments_and_unknown_fields() {
        let text =
            "# c\nmodel_checkpoint_path: 'a\\303\\251\\x41\\\"b' future: 3 other { x: \"}\" }\n";
        let st = CheckpointState::parse(text).unwrap();
        assert_eq!(st.model_checkpoint_path, "aéA\"b");
        assert!(CheckpointState::parse("model_checkpoint_path \"x\"").is_err());
        assert!(CheckpointState::parse("model_checkpoint_path: \"x").is_err());
        let empty = CheckpointState::parse("").unwrap();
        assert!(empty.model_path_in(Path::new(".")).is_err());
    }
}
