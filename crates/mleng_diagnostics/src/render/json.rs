//! `json`: the findings exactly as serde serializes [`Finding`], pretty-printed.

use std::path::PathBuf;

use crate::Finding;

pub(super) fn render(findings: &[Finding]) -> String {
    let mut out = match serde_json::to_string_pretty(findings) {
        Ok(json) => json,
        // serde refuses paths that are not UTF-8; rather than lose every finding, write
        // those paths lossily (U+FFFD for the bad bytes) and keep the machine format.
        Err(_) => serde_json::to_string_pretty(&lossy_paths(findings))
            .unwrap_or_else(|_| "[]".to_string()),
    };
    out.push('\n');
    out
}

fn lossy_paths(findings: &[Finding]) -> Vec<Finding> {
    findings
        .iter()
        .cloned()
        .map(|mut finding| {
            let lossy = finding.location.path.to_string_lossy().into_owned();
            finding.location.path = PathBuf::from(lossy);
            finding
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Area, Location, Severity};

    #[cfg(unix)]
    #[test]
    fn non_utf8_paths_are_written_lossily() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;

        let path = PathBuf::from(OsStr::from_bytes(b"bad\xffname.py"));
        let finding = Finding::new(
            "E000",
            "parse-error",
            Severity::Error,
            Area::Input,
            Location::file(path),
            "not UTF-8",
        );
        let out = render(&[finding]);
        assert!(out.contains("\"path\": \"bad\u{FFFD}name.py\""), "{out}");
    }
}
