//! PR mode: the lines a change touched, from `git diff` against the merge base with a
//! reference (`--diff-base origin/main`). Findings are kept when their span meets a changed
//! line; the review itself still sees the whole project.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use mleng_diagnostics::Finding;

use crate::ReviewError;

/// Lines added or changed since the merge base, by canonical file path.
#[derive(Debug, Default, Clone)]
pub struct ChangedLines {
    files: HashMap<PathBuf, Changed>,
}

#[derive(Debug, Clone)]
enum Changed {
    /// A new (untracked or added) file, or one whose lines cannot be mapped (a notebook's
    /// JSON lines are not its cells' lines): every finding in it counts.
    Whole,
    Lines(BTreeSet<u32>),
}

impl ChangedLines {
    /// Runs `git` (from PATH) in the repository that holds `within`.
    pub fn from_git(within: &Path, base: &str) -> Result<ChangedLines, ReviewError> {
        let dir = if within.is_dir() {
            within.to_path_buf()
        } else {
            within
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        };
        let top = PathBuf::from(git(&dir, &["rev-parse", "--show-toplevel"])?.trim());
        if git(
            &top,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{base}^{{commit}}"),
            ],
        )
        .is_err()
        {
            return Err(ReviewError::Git(format!(
                "--diff-base: `{base}` is not a commit in {} (in a shallow CI checkout, fetch it first: `git fetch --depth=1 origin <branch>`, or check out with fetch-depth: 0)",
                top.display()
            )));
        }
        let merge_base = git(&top, &["merge-base", base, "HEAD"])
            .map_err(|err| {
                ReviewError::Git(format!(
                    "--diff-base: no common ancestor of `{base}` and HEAD ({err}); in a shallow clone, fetch more history (fetch-depth: 0)"
                ))
            })?
            .trim()
            .to_string();
        // The working tree against the merge base: committed and uncommitted changes.
        let diff = git(
            &top,
            &[
                "diff",
                "--unified=0",
                "--no-color",
                "--no-ext-diff",
                "--no-renames",
                &merge_base,
            ],
        )?;
        let mut changed = parse_diff(&diff, &top);
        let untracked = git(&top, &["ls-files", "--others", "--exclude-standard", "-z"])?;
        for name in untracked.split('\0').filter(|n| !n.is_empty()) {
            changed
                .files
                .insert(canonical(&top.join(name)), Changed::Whole);
        }
        Ok(changed)
    }

    /// Whether a finding is on a changed line. Findings on a whole file (no span) and
    /// `file_level` ones (project findings about an entry point) count when their file changed.
    pub fn contains(&self, finding: &Finding, file_level: bool) -> bool {
        let Some(changed) = self.files.get(&canonical(&finding.location.path)) else {
            return false;
        };
        match (changed, finding.location.span) {
            (Changed::Whole, _) | (_, None) => true,
            _ if file_level => true,
            (Changed::Lines(lines), Some(span)) => lines
                .range(span.start_line..=span.end_line)
                .next()
                .is_some(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn git(dir: &Path, args: &[&str]) -> Result<String, ReviewError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|err| ReviewError::Git(format!("--diff-base needs `git` on PATH: {err}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ReviewError::Git(format!(
            "`git {}` failed in {}: {}",
            args.join(" "),
            dir.display(),
            stderr.trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Reads `git diff --unified=0`: `+++ b/path` names the file, `@@ -a,b +c,d @@` adds lines
/// c..c+d. A pure deletion (d = 0) marks the line after it, where the removed code was.
fn parse_diff(diff: &str, top: &Path) -> ChangedLines {
    let mut changed = ChangedLines::default();
    let mut current: Option<PathBuf> = None;
    for line in diff.lines() {
        if let Some(name) = line.strip_prefix("+++ ") {
            current = name
                .strip_prefix("b/")
                .map(|n| canonical(&top.join(unquote(n))));
            if let Some(path) = &current {
                let whole = path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("ipynb"));
                changed.files.insert(
                    path.clone(),
                    if whole {
                        Changed::Whole
                    } else {
                        Changed::Lines(BTreeSet::new())
                    },
                );
            }
        } else if let (Some(hunk), Some(path)) = (line.strip_prefix("@@ "), &current) {
            let Some(new) = hunk.split_whitespace().find(|p| p.starts_with('+')) else {
                continue;
            };
            let mut parts = new[1..].split(',');
            let start: u32 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let count: u32 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(1);
            if let Some(Changed::Lines(lines)) = changed.files.get_mut(path) {
                if count == 0 {
                    lines.insert(start + 1);
                } else {
                    lines.extend(start..start + count);
                }
            }
        }
    }
    changed
}

/// Git quotes unusual file names (`"b/caf\303\251.py"`); such names are rare in code
/// repositories, so only the quotes are removed.
fn unquote(name: &str) -> &str {
    name.trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use mleng_diagnostics::{Area, Location, Severity, Span};

    fn finding(path: &Path, line: u32) -> Finding {
        let mut location = Location::file(path);
        location.span = Some(Span::point(line, 1));
        Finding::new(
            "X001",
            "x",
            Severity::Warning,
            Area::Training,
            location,
            "m",
        )
    }

    #[test]
    fn hunks_mark_added_lines_and_deletion_points() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path();
        std::fs::write(top.join("train.py"), "a\nb\nc\nd\ne\n").unwrap();
        let diff = "diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n@@ -2 +2,2 @@\n-x\n+b\n+c\n@@ -9,2 +4,0 @@\n-y\n-z\n";
        let changed = parse_diff(diff, top);
        let path = top.join("train.py");
        assert!(!changed.contains(&finding(&path, 1), false));
        assert!(changed.contains(&finding(&path, 2), false));
        assert!(changed.contains(&finding(&path, 3), false));
        assert!(!changed.contains(&finding(&path, 4), false));
        assert!(
            changed.contains(&finding(&path, 5), false),
            "deletion point"
        );
        assert!(changed.contains(&finding(&path, 1), true), "file-level");
        assert!(!changed.contains(&finding(&top.join("other.py"), 1), true));
    }
}
