//! Paths relative to a request's base directory.
//!
//! Every request of the library layer carries `base_dir`: RETURNN's working directory, against
//! which the relative paths *inside* configs (model names, `load`, preload files, `include`,
//! the learning-rate file) are resolved. An empty base leaves such paths relative, for the
//! operating system to resolve against the process's directory; the library itself never
//! reads or changes the process's directory. Paths are *shown* as the config gives them.

use std::path::{Path, PathBuf};

/// `path` joined to `base`, unless `path` is absolute or `base` is empty.
pub fn resolve(base: &Path, path: impl AsRef<Path>) -> PathBuf {
    let p = path.as_ref();
    if base.as_os_str().is_empty() || p.is_absolute() {
        p.to_path_buf()
    } else if p.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_only_relative_paths_to_a_non_empty_base() {
        assert_eq!(resolve(Path::new(""), "a/b"), PathBuf::from("a/b"));
        assert_eq!(resolve(Path::new("run"), "a/b"), PathBuf::from("run/a/b"));
        assert_eq!(resolve(Path::new("run"), "/x"), PathBuf::from("/x"));
        assert_eq!(resolve(Path::new("run"), ""), PathBuf::from("run"));
    }
}
