//! Path confinement: every path a client sends is resolved against the roots the client
//! declared (MCP roots) or, without them, the folder the server was started in, and refused
//! unless it lies inside one of them *after* canonicalization, so `..` and symlinks cannot
//! lead out. The server only ever reads (and, for `fix` with `write: true`, rewrites) files
//! under these folders.

use std::path::{Component, Path, PathBuf};

use crate::error::ToolError;

/// The folders requests may touch, canonical, the first one being where relative paths start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    dirs: Vec<PathBuf>,
}

impl Roots {
    /// Canonicalizes `dirs`, dropping those that do not exist; `None` when none is left.
    pub fn new(dirs: &[PathBuf]) -> Option<Roots> {
        let mut canonical: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            match dir.canonicalize() {
                Ok(c) if c.is_dir() && !canonical.contains(&c) => canonical.push(c),
                Ok(_) => {}
                Err(err) => eprintln!("mleng mcp: ignoring root {}: {err}", dir.display()),
            }
        }
        (!canonical.is_empty()).then_some(Roots { dirs: canonical })
    }

    /// The roots of an MCP `roots/list` answer: `file://` URIs (others cannot be read here).
    pub fn from_uris<'a>(uris: impl IntoIterator<Item = &'a str>) -> Option<Roots> {
        let dirs: Vec<PathBuf> = uris.into_iter().filter_map(file_uri_to_path).collect();
        Roots::new(&dirs)
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    fn describe(&self) -> String {
        let names: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        names.join(", ")
    }

    fn inside(&self, path: &Path) -> bool {
        self.dirs.iter().any(|root| path.starts_with(root))
    }

    fn outside(&self, raw: &str) -> ToolError {
        ToolError::OutsideRoots {
            path: raw.to_string(),
            roots: self.describe(),
        }
    }

    fn absolute(&self, raw: &str) -> Result<PathBuf, ToolError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(ToolError::invalid("a path is empty"));
        }
        let path = file_uri_to_path(raw).unwrap_or_else(|| PathBuf::from(raw));
        Ok(if path.is_absolute() {
            path
        } else {
            self.dirs[0].join(path)
        })
    }

    /// An existing file or folder inside the roots, canonical.
    pub fn existing(&self, raw: &str) -> Result<PathBuf, ToolError> {
        let path = self.absolute(raw)?;
        self.confine(&path, raw)
    }

    /// `path` (absolute, e.g. found by walking a folder) canonical and inside the roots.
    pub fn confine_path(&self, path: &Path) -> Result<PathBuf, ToolError> {
        self.confine(path, &path.display().to_string())
    }

    fn confine(&self, path: &Path, raw: &str) -> Result<PathBuf, ToolError> {
        let canonical = match path.canonicalize() {
            Ok(c) => c,
            // Say "outside" rather than "missing" for a path that could not be inside anyway,
            // so the error does not probe for files elsewhere.
            Err(_) if !self.inside(&lexically_normal(path)) => return Err(self.outside(raw)),
            Err(_) => return Err(ToolError::NotFound(path.to_path_buf())),
        };
        if self.inside(&canonical) {
            Ok(canonical)
        } else {
            Err(self.outside(raw))
        }
    }

    /// A file that need not exist yet (a code snippet's file name): its nearest existing
    /// ancestor must be inside the roots, and the rest may not climb with `..`.
    pub fn new_file(&self, raw: &str) -> Result<PathBuf, ToolError> {
        let path = self.absolute(raw)?;
        let mut existing = path.as_path();
        let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
        while !existing.exists() {
            match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name);
                    existing = parent;
                }
                _ => return Err(self.outside(raw)),
            }
        }
        if path.components().any(|c| c == Component::ParentDir) && !rest.is_empty() {
            return Err(self.outside(raw));
        }
        let mut resolved = existing.canonicalize().map_err(|_| self.outside(raw))?;
        for name in rest.iter().rev() {
            resolved.push(name);
        }
        if self.inside(&resolved) {
            Ok(resolved)
        } else {
            Err(self.outside(raw))
        }
    }
}

/// `a/./b/../c` -> `a/c` without touching the file system (only to word an error).
fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `file:///home/me/my%20project` -> `/home/me/my project`; `None` for other schemes.
pub fn file_uri_to_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    // `file://localhost/path` names this machine too.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Roots) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("project");
        std::fs::create_dir_all(root.join("src")).expect("mkdir");
        std::fs::write(root.join("src/train.py"), "import torch\n").expect("write");
        std::fs::write(dir.path().join("secret.py"), "x = 1\n").expect("write");
        let roots = Roots::new(&[root]).expect("a root");
        (dir, roots)
    }

    #[test]
    fn relative_and_absolute_paths_inside_are_accepted() {
        let (_dir, roots) = setup();
        let root = roots.dirs()[0].clone();
        assert_eq!(
            roots.existing("src/train.py").expect("inside"),
            root.join("src/train.py")
        );
        let absolute = root.join("src").display().to_string();
        assert_eq!(roots.existing(&absolute).expect("inside"), root.join("src"));
        assert_eq!(roots.existing(".").expect("the root"), root);
    }

    #[test]
    fn dot_dot_and_absolute_paths_outside_are_refused() {
        let (dir, roots) = setup();
        for raw in [
            "../secret.py".to_string(),
            "src/../../secret.py".to_string(),
            dir.path().join("secret.py").display().to_string(),
            "/etc/passwd".to_string(),
        ] {
            let err = roots.existing(&raw).expect_err(&raw);
            assert!(
                matches!(err, ToolError::OutsideRoots { .. }),
                "{raw}: {err}"
            );
            assert!(err.to_string().contains("outside"), "{err}");
        }
    }

    #[test]
    fn a_symlink_leading_out_is_refused() {
        let (dir, roots) = setup();
        let link = roots.dirs()[0].join("escape.py");
        std::os::unix::fs::symlink(dir.path().join("secret.py"), &link).expect("symlink");
        let err = roots.existing("escape.py").expect_err("symlink out");
        assert!(matches!(err, ToolError::OutsideRoots { .. }), "{err}");
        let folder = roots.dirs()[0].join("up");
        std::os::unix::fs::symlink(dir.path(), &folder).expect("symlink");
        assert!(roots.new_file("up/new.py").is_err());
    }

    #[test]
    fn files_found_by_walking_are_confined_too() {
        let (dir, roots) = setup();
        let root = roots.dirs()[0].clone();
        let found = root.join("src/train.py");
        assert_eq!(roots.confine_path(&found).expect("inside"), found);
        let link = root.join("src/model.onnx");
        std::os::unix::fs::symlink(dir.path().join("secret.py"), &link).expect("symlink");
        assert!(matches!(
            roots.confine_path(&link),
            Err(ToolError::OutsideRoots { .. })
        ));
    }

    #[test]
    fn missing_files_inside_are_not_found() {
        let (_dir, roots) = setup();
        let err = roots.existing("src/nope.py").expect_err("missing");
        assert!(matches!(err, ToolError::NotFound(_)), "{err}");
    }

    #[test]
    fn new_files_must_stay_inside() {
        let (_dir, roots) = setup();
        let root = roots.dirs()[0].clone();
        assert_eq!(
            roots.new_file("scratch/snippet.py").expect("inside"),
            root.join("scratch/snippet.py")
        );
        assert!(roots.new_file("../snippet.py").is_err());
        assert!(roots.new_file("scratch/../../snippet.py").is_err());
        assert!(roots.new_file("/tmp/elsewhere/snippet.py").is_err());
        assert!(roots.new_file("  ").is_err());
    }

    #[test]
    fn file_uris_decode() {
        assert_eq!(
            file_uri_to_path("file:///home/me/my%20project"),
            Some(PathBuf::from("/home/me/my project"))
        );
        assert_eq!(
            file_uri_to_path("file://localhost/srv"),
            Some(PathBuf::from("/srv"))
        );
        assert_eq!(file_uri_to_path("https://example.com/x"), None);
        assert_eq!(file_uri_to_path("file://server/share"), None);
    }

    #[test]
    fn roots_that_do_not_exist_are_dropped() {
        assert!(Roots::new(&[PathBuf::from("/no/such/folder")]).is_none());
        assert!(Roots::from_uris(["https://example.com"]).is_none());
    }
}
