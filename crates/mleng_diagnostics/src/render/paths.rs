//! Paths as the web-facing formats (SARIF, GitHub) want them: `/`-separated, and for
//! SARIF a URI reference.

use std::path::{Component, Path};

/// The path with `/` separators and no leading `./`. On Windows `\` is a separator and
/// becomes `/`; elsewhere it is an ordinary file-name character and is kept.
pub(super) fn forward_slashes(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut absolute = false;
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::RootDir => absolute = true,
            Component::Prefix(prefix) => {
                parts.push(prefix.as_os_str().to_string_lossy().into_owned())
            }
            Component::ParentDir => parts.push("..".to_string()),
            Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// A URI reference for `path`: relative paths stay relative (to SARIF's `%SRCROOT%`),
/// absolute ones become `file://` URIs. Returns `(uri, is_relative)`.
pub(super) fn uri(path: &Path) -> (String, bool) {
    let slashed = forward_slashes(path);
    if path.is_absolute() || slashed.starts_with('/') {
        let slashed = if slashed.starts_with('/') {
            slashed
        } else {
            // A Windows path such as `C:/x`: `file:///C:/x`.
            format!("/{slashed}")
        };
        (format!("file://{}", percent_encode(&slashed, true)), false)
    } else {
        (percent_encode(&slashed, false), true)
    }
}

/// Percent-encodes everything but unreserved characters and `/` (and `:` in an absolute
/// path's drive letter), so spaces, `#`, `?`, `%` and non-ASCII names give a valid URI,
/// and a relative path's `:` cannot be mistaken for a scheme.
fn percent_encode(text: &str, keep_colon: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/')
            || (keep_colon && byte == b':');
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_become_encoded_relative_uris() {
        assert_eq!(
            uri(Path::new("./src/my model#1/ünet.py")),
            ("src/my%20model%231/%C3%BCnet.py".to_string(), true)
        );
        assert_eq!(uri(Path::new("a:b.py")), ("a%3Ab.py".to_string(), true));
        assert_eq!(uri(Path::new("../x.py")), ("../x.py".to_string(), true));
    }

    #[cfg(unix)]
    #[test]
    fn absolute_paths_become_file_uris() {
        assert_eq!(
            uri(Path::new("/tmp/100%.py")),
            ("file:///tmp/100%25.py".to_string(), false)
        );
        assert_eq!(forward_slashes(Path::new("a\\b.py")), "a\\b.py");
    }
}
