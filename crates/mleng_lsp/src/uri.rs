//! `file://` URIs and paths. Only file URIs are reviewed: an `untitled:` buffer or a remote
//! document has no place in a project on disk, so it gets no diagnostics.

use std::path::PathBuf;

use lsp_types::Uri;

/// The path of a `file://` URI (percent-decoded), or `None` for other schemes.
pub fn to_path(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    // `file:///home/x` (empty authority) or `file://localhost/home/x`.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let decoded = percent_decode(rest)?;
    // Windows: `/C:/x` -> `C:/x`.
    let bytes = decoded.as_bytes();
    let path = if bytes.len() > 2 && bytes[0] == b'/' && bytes[2] == b':' {
        decoded[1..].to_string()
    } else {
        decoded
    };
    (path.starts_with('/') || cfg!(windows)).then(|| PathBuf::from(path))
}

/// The `file://` URI of an absolute path (a finding's related location in another file; tests
/// build URIs with it). A relative path has none.
pub fn from_path(path: &std::path::Path) -> Option<Uri> {
    if !path.is_absolute() {
        return None;
    }
    let text = path.to_str()?;
    let mut out = String::from("file://");
    if !text.starts_with('/') {
        out.push('/');
    }
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"/-_.~:".contains(&byte);
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    std::str::FromStr::from_str(&out).ok()
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::str::FromStr;

    #[test]
    fn round_trips_spaces_and_non_ascii() {
        let path = Path::new("/home/me/my proj/réseau.py");
        let uri = from_path(path).unwrap();
        assert_eq!(uri.as_str(), "file:///home/me/my%20proj/r%C3%A9seau.py");
        assert_eq!(to_path(&uri).unwrap(), path);
    }

    #[test]
    fn other_schemes_are_not_paths() {
        let uri = Uri::from_str("untitled:Untitled-1").unwrap();
        assert!(to_path(&uri).is_none());
        let cell = Uri::from_str("vscode-notebook-cell:/x/nb.ipynb#W0sZmlsZQ%3D%3D").unwrap();
        assert!(to_path(&cell).is_none());
    }

    #[test]
    fn localhost_authority_is_accepted() {
        let uri = Uri::from_str("file://localhost/tmp/a.py").unwrap();
        assert_eq!(to_path(&uri).unwrap(), Path::new("/tmp/a.py"));
    }
}
