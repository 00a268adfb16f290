//! Unified diffs of fixed files, as `--diff` prints them (the shape `git apply` and `patch`
//! read).

use std::path::Path;

pub fn unified_diff(path: &Path, before: &str, after: &str) -> String {
    let name = path
        .strip_prefix("./")
        .unwrap_or(path)
        .display()
        .to_string();
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}
