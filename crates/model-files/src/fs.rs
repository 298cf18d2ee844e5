//! The small filesystem interface the RETURNN rules need, a real implementation and an
//! in-memory fake (for table tests and for callers that want to ask "what if").
//!
//! Paths are strings, as RETURNN handles them: relative paths are relative to RETURNN's working
//! directory, which [`RealFs`] is given explicitly (the fake resolves them against its own
//! notion of a current directory).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Filesystem queries used by the model-file rules.
pub trait Fs {
    /// Python's `os.path.exists`: the path resolves (following symlinks) to anything.
    fn exists(&self, path: &str) -> bool;
    /// Python's `os.path.islink`.
    fn is_symlink(&self, path: &str) -> bool;
    /// Python's `os.readlink`: the raw link target.
    fn read_link(&self, path: &str) -> Option<String>;
    /// Entry names of a directory (not sorted), or `None` if it cannot be listed.
    fn list_dir(&self, dir: &str) -> Option<Vec<String>>;
    /// Size in bytes of the file the path resolves to.
    fn file_size(&self, path: &str) -> Option<u64>;
    /// The content of a file, at most `max` bytes (a longer file is an error of kind
    /// [`std::io::ErrorKind::FileTooLarge`], so hostile input cannot make us allocate more).
    fn read_file(&self, path: &str, max: u64) -> std::io::Result<Vec<u8>>;
    /// Deletes a file (`cleanup --apply`).
    fn remove_file(&self, path: &str) -> std::io::Result<()>;
}

/// The real filesystem, seen from a base directory: a relative path is joined to `base`
/// before the query (an empty base leaves it relative, so the operating system resolves it
/// against the process's directory; this crate never reads or changes that directory).
/// Paths handed back (link targets, directory entries) are as the filesystem gives them.
#[derive(Debug, Clone, Default)]
pub struct RealFs {
    base: PathBuf,
}

impl RealFs {
    /// The filesystem as RETURNN sees it when started in `base`.
    pub fn in_dir(base: impl Into<PathBuf>) -> RealFs {
        RealFs { base: base.into() }
    }

    /// The base directory.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// `path` as the OS must be given it: joined to the base unless absolute.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if self.base.as_os_str().is_empty() || p.is_absolute() {
            p.to_path_buf()
        } else if path.is_empty() {
            self.base.clone()
        } else {
            self.base.join(p)
        }
    }
}

impl Fs for RealFs {
    fn exists(&self, path: &str) -> bool {
        !path.is_empty() && self.resolve(path).exists()
    }
    fn is_symlink(&self, path: &str) -> bool {
        !path.is_empty() && self.resolve(path).is_symlink()
    }
    fn read_link(&self, path: &str) -> Option<String> {
        std::fs::read_link(self.resolve(path))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }
    fn list_dir(&self, dir: &str) -> Option<Vec<String>> {
        let dir = if dir.is_empty() { "." } else { dir };
        let rd = std::fs::read_dir(self.resolve(dir)).ok()?;
        Some(
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
        )
    }
    fn file_size(&self, path: &str) -> Option<u64> {
        std::fs::metadata(self.resolve(path)).ok().map(|m| m.len())
    }
    fn read_file(&self, path: &str, max: u64) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let f = std::fs::File::open(self.resolve(path))?;
        let mut buf = Vec::new();
        f.take(max.saturating_add(1)).read_to_end(&mut buf)?;
        if buf.len() as u64 > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("larger than {max} bytes"),
            ));
        }
        Ok(buf)
    }
    fn remove_file(&self, path: &str) -> std::io::Result<()> {
        std::fs::remove_file(self.resolve(path))
    }
}

#[derive(Debug, Clone)]
enum Node {
    File(u64),
    Dir,
    Link(String),
}

/// An in-memory filesystem: files (with a size), directories and symlinks. Parent
/// directories are implied. Relative symlink targets resolve against the link's directory
/// (as the OS does); relative paths given to the queries resolve against `cwd` (default `/cwd`).
#[derive(Debug, Clone)]
pub struct MemFs {
    nodes: BTreeMap<String, Node>,
    contents: BTreeMap<String, Vec<u8>>,
    cwd: String,
}

impl Default for MemFs {
    fn default() -> Self {
        MemFs::new()
    }
}

impl MemFs {
    pub fn new() -> MemFs {
        MemFs {
            nodes: BTreeMap::new(),
            contents: BTreeMap::new(),
            cwd: "/cwd".to_string(),
        }
    }
    /// Sets the current directory (absolute).
    pub fn with_cwd(mut self, cwd: &str) -> MemFs {
        self.cwd = normalize(cwd);
        self
    }
    /// Adds a file of `size` bytes.
    pub fn file(&mut self, path: &str, size: u64) -> &mut MemFs {
        let p = self.abs(path);
        self.nodes.insert(p, Node::File(size));
        self
    }
    /// Adds a file with content.
    pub fn file_with(&mut self, path: &str, content: &[u8]) -> &mut MemFs {
        let p = self.abs(path);
        self.nodes
            .insert(p.clone(), Node::File(content.len() as u64));
        self.contents.insert(p, content.to_vec());
        self
    }
    /// Adds a directory.
    pub fn dir(&mut self, path: &str) -> &mut MemFs {
        let p = self.abs(path);
        self.nodes.insert(p, Node::Dir);
        self
    }
    /// Adds a symlink `path -> target` (target stored raw).
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut MemFs {
        let p = self.abs(path);
        self.nodes.insert(p, Node::Link(target.to_string()));
        self
    }
    /// Removes a path (any kind); returns whether it existed.
    pub fn remove(&mut self, path: &str) -> bool {
        let p = self.abs(path);
        self.nodes.remove(&p).is_some()
    }
    /// All file and link paths (absolute), sorted.
    pub fn paths(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    fn abs(&self, path: &str) -> String {
        if path.starts_with('/') {
            normalize(path)
        } else {
            normalize(&format!("{}/{}", self.cwd, path))
        }
    }

    fn is_implied_dir(&self, abs: &str) -> bool {
        let prefix = if abs == "/" {
            "/".to_string()
        } else {
            format!("{abs}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// Resolves every symlink on the path; `None` if it does not resolve (missing, dangling,
    /// loop).
    fn resolve(&self, abs: &str, hops: &mut u32) -> Option<(String, Option<Node>)> {
        let mut cur = String::from("/");
        let comps: Vec<&str> = abs.split('/').filter(|c| !c.is_empty()).collect();
        for (i, c) in comps.iter().enumerate() {
            let next = if cur == "/" {
                format!("/{c}")
            } else {
                format!("{cur}/{c}")
            };
            match self.nodes.get(&next) {
                Some(Node::Link(t)) => {
                    *hops += 1;
                    if *hops > 40 {
                        return None;
                    }
                    let target = if t.starts_with('/') {
                        normalize(t)
                    } else {
                        normalize(&format!("{cur}/{t}"))
                    };
                    let (r, node) = self.resolve(&target, hops)?;
                    if i + 1 < comps.len() {
                        if !matches!(node, Some(Node::Dir) | None) {
                            return None;
                        }
                        cur = r;
                    } else {
                        return Some((r, node));
                    }
                }
                Some(Node::File(s)) => {
                    if i + 1 < comps.len() {
                        return None;
                    }
                    return Some((next, Some(Node::File(*s))));
                }
                Some(Node::Dir) => cur = next,
                None => {
                    if self.is_implied_dir(&next) {
                        cur = next;
                    } else {
                        return None;
                    }
                }
            }
        }
        Some((cur, Some(Node::Dir)))
    }
}

/// Normalises an absolute path textually: collapses `//`, removes `.`, applies `..`.
fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

impl Fs for MemFs {
    fn exists(&self, path: &str) -> bool {
        if path.is_empty() {
            return false;
        }
        // Python: "a/b/" needs "a/b" to be a directory.
        let must_be_dir = path.ends_with('/');
        let mut hops = 0;
        match self.resolve(&self.abs(path), &mut hops) {
            Some((_, node)) => !must_be_dir || matches!(node, Some(Node::Dir) | None),
            None => false,
        }
    }
    fn is_symlink(&self, path: &str) -> bool {
        if path.is_empty() || path.ends_with('/') {
            return false;
        }
        let abs = self.abs(path);
        // The parent may itself go through symlinks.
        let (parent, name) = match abs.rfind('/') {
            Some(p) => (&abs[..p], &abs[p + 1..]),
            None => return false,
        };
        let mut hops = 0;
        let parent = if parent.is_empty() {
            "/".to_string()
        } else {
            match self.resolve(parent, &mut hops) {
                Some((r, _)) => r,
                None => return false,
            }
        };
        let full = if parent == "/" {
            format!("/{name}")
        } else {
            format!("{parent}/{name}")
        };
        matches!(self.nodes.get(&full), Some(Node::Link(_)))
    }
    fn read_link(&self, path: &str) -> Option<String> {
        if !self.is_symlink(path) {
            return None;
        }
        let abs = self.abs(path);
        let (parent, name) = abs.rsplit_once('/')?;
        let mut hops = 0;
        let parent = if parent.is_empty() {
            "/".to_string()
        } else {
            self.resolve(parent, &mut hops)?.0
        };
        let full = if parent == "/" {
            format!("/{name}")
        } else {
            format!("{parent}/{name}")
        };
        match self.nodes.get(&full) {
            Some(Node::Link(t)) => Some(t.clone()),
            _ => None,
        }
    }
    fn list_dir(&self, dir: &str) -> Option<Vec<String>> {
        let dir = if dir.is_empty() { "." } else { dir };
        let mut hops = 0;
        let (real, node) = self.resolve(&self.abs(dir), &mut hops)?;
        if !matches!(node, Some(Node::Dir) | None) {
            return None;
        }
        let prefix = if real == "/" {
            "/".to_string()
        } else {
            format!("{real}/")
        };
        let mut names: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k[prefix.len()..].split('/').next().map(str::to_string))
            .collect();
        names.dedup();
        Some(names)
    }
    fn file_size(&self, path: &str) -> Option<u64> {
        let mut hops = 0;
        match self.resolve(&self.abs(path), &mut hops)? {
            (_, Some(Node::File(s))) => Some(s),
            _ => None,
        }
    }
    fn read_file(&self, path: &str, max: u64) -> std::io::Result<Vec<u8>> {
        let mut hops = 0;
        let not_found = || std::io::Error::new(std::io::ErrorKind::NotFound, path.to_string());
        let (real, node) = self
            .resolve(&self.abs(path), &mut hops)
            .ok_or_else(not_found)?;
        if !matches!(node, Some(Node::File(_))) {
            return Err(not_found());
        }
        let data = self.contents.get(&real).cloned().unwrap_or_default();
        if data.len() as u64 > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("larger than {max} bytes"),
            ));
        }
        Ok(data)
    }
    /// The fake is read-only through the trait (use [`MemFs::remove`] to change it).
    fn remove_file(&self, path: &str) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("MemFs is read-only through the Fs trait: {path}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memfs_symlinks_and_dirs() {
        let mut fs = MemFs::new();
        fs.file("m/network.042.meta", 10)
            .symlink("m/network.best.meta", "network.042.meta")
            .symlink("m/dangling.index", "nothing.index")
            .symlink("m/loop.meta", "loop.meta")
            .dir("m/network.003");
        assert!(fs.exists("m/network.best.meta"));
        assert!(fs.is_symlink("m/network.best.meta"));
        assert_eq!(
            fs.read_link("m/network.best.meta").as_deref(),
            Some("network.042.meta")
        );
        assert!(!fs.exists("m/dangling.index"));
        assert!(fs.is_symlink("m/dangling.index"));
        assert!(!fs.exists("m/loop.meta"));
        assert!(fs.exists("m/network.003"));
        assert!(fs.exists("m"));
        assert!(fs.exists("./m/../m/network.042.meta"));
        assert!(!fs.exists("m/network.042.meta/"));
        let mut names = fs.list_dir("m").unwrap();
        names.sort();
        assert_eq!(
            names,
            [
                "dangling.index",
                "loop.meta",
                "network.003",
                "network.042.meta",
                "network.best.meta"
            ]
        );
        assert_eq!(fs.file_size("m/network.best.meta"), Some(10));
    }
}
