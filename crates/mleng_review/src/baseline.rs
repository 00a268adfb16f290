//! Baselines: adopt mleng on an existing project without fixing everything first.
//! `--write-baseline FILE` records today's findings; `--baseline FILE` reports only the others.
//!
//! A finding is recorded by rule, file (relative to the baseline's folder) and a fingerprint
//! of the code on its line (whitespace-insensitive), not its line number, so it survives code
//! moving up or down. Identical lines with the same finding are counted: a second copy of a
//! recorded mistake is new.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use mleng_diagnostics::Finding;
use serde::{Deserialize, Serialize};

use crate::ReviewError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub code: String,
    /// `/`-separated, relative to the baseline file's folder.
    pub path: String,
    /// 16 hex digits of a hash of the finding's code line and rule.
    pub fingerprint: String,
    /// For people reading the file; not compared.
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Baseline {
    pub version: u32,
    pub findings: Vec<Entry>,
}

const VERSION: u32 = 1;

impl Baseline {
    pub fn from_findings(findings: &[Finding], baseline_path: &Path) -> Baseline {
        let root = folder_of(baseline_path);
        let mut entries: Vec<Entry> = findings.iter().map(|f| entry(f, &root)).collect();
        entries.sort();
        Baseline {
            version: VERSION,
            findings: entries,
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), ReviewError> {
        let text = serde_json::to_string_pretty(self).map_err(|err| ReviewError::File {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
        std::fs::write(path, text + "\n").map_err(|err| ReviewError::File {
            path: path.to_path_buf(),
            message: format!("cannot write the baseline: {err}"),
        })
    }

    pub fn read(path: &Path) -> Result<Baseline, ReviewError> {
        let error = |message: String| ReviewError::File {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|err| error(format!("cannot read the baseline: {err}")))?;
        let baseline: Baseline = serde_json::from_str(&text).map_err(|err| {
            error(format!(
                "not an mleng baseline ({err}); write one with --write-baseline"
            ))
        })?;
        if baseline.version != VERSION {
            return Err(error(format!(
                "baseline version {} is not supported (expected {VERSION}); write it again with --write-baseline",
                baseline.version
            )));
        }
        Ok(baseline)
    }

    /// The findings that are not in the baseline (each recorded entry absorbs one finding).
    pub fn new_findings(&self, findings: Vec<Finding>, baseline_path: &Path) -> Vec<Finding> {
        let root = folder_of(baseline_path);
        let mut known: HashMap<(String, String, String), usize> = HashMap::new();
        for e in &self.findings {
            *known
                .entry((e.code.clone(), e.path.clone(), e.fingerprint.clone()))
                .or_default() += 1;
        }
        findings
            .into_iter()
            .filter(|f| {
                let e = entry(f, &root);
                match known.get_mut(&(e.code, e.path, e.fingerprint)) {
                    Some(count) if *count > 0 => {
                        *count -= 1;
                        false
                    }
                    _ => true,
                }
            })
            .collect()
    }
}

fn folder_of(baseline_path: &Path) -> PathBuf {
    let absolute = std::path::absolute(baseline_path).unwrap_or_else(|_| baseline_path.into());
    let folder = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    std::fs::canonicalize(&folder).unwrap_or(folder)
}

fn entry(finding: &Finding, root: &Path) -> Entry {
    let path = &finding.location.path;
    let absolute = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.clone());
    let relative = absolute.strip_prefix(root).unwrap_or(&absolute);
    let path: Vec<String> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let line = code_line(finding).unwrap_or_else(|| finding.message.clone());
    let squeezed: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
    let cell = finding
        .location
        .cell
        .map_or(String::new(), |c| c.to_string());
    let message = without_line_numbers(&finding.message);
    let fingerprint = fnv1a(&[finding.code.as_str(), &squeezed, &cell, &message]);
    Entry {
        code: finding.code.clone(),
        path: path.join("/"),
        fingerprint: format!("{fingerprint:016x}"),
        message: finding.message.clone(),
    }
}

/// The message without the line numbers it cites ("created at line 12"), which move with the
/// code; the rest of it (a count of grouped calls, a value) still tells findings apart.
fn without_line_numbers(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut words = message.split(' ').peekable();
    while let Some(word) = words.next() {
        out.push_str(word);
        out.push(' ');
        if matches!(word, "line" | "lines" | "cell") {
            if let Some(next) = words.peek() {
                if next.starts_with(|c: char| c.is_ascii_digit()) {
                    let rest = next.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
                    out.push('N');
                    out.push_str(rest);
                    out.push(' ');
                    words.next();
                }
            }
        }
    }
    out
}

/// The source line the finding starts on, from its snippet.
fn code_line(finding: &Finding) -> Option<String> {
    let snippet = finding.snippet.as_ref()?;
    let span = finding.location.span?;
    let index = span.start_line.checked_sub(snippet.first_line)? as usize;
    snippet.text.lines().nth(index).map(str::to_string)
}

/// FNV-1a, 64 bits: stable across runs, platforms and versions (unlike std's hasher).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use mleng_diagnostics::{Area, Location, Severity, Snippet, Span};

    fn finding(path: &Path, line: u32, code_text: &str) -> Finding {
        let mut location = Location::file(path);
        location.span = Some(Span::point(line, 1));
        let mut f = Finding::new(
            "SEC001",
            "x",
            Severity::Warning,
            Area::Security,
            location,
            "m",
        );
        f.snippet = Some(Snippet {
            first_line: line,
            text: code_text.to_string(),
        });
        f
    }

    #[test]
    fn recorded_findings_survive_moves_and_copies_are_new() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("train.py");
        std::fs::write(&file, "").unwrap();
        let baseline_path = dir.path().join("mleng-baseline.json");
        let old = vec![finding(&file, 3, "w = torch.load(p)")];
        let baseline = Baseline::from_findings(&old, &baseline_path);
        baseline.write(&baseline_path).unwrap();
        let read = Baseline::read(&baseline_path).unwrap();
        assert_eq!(read.findings[0].path, "train.py");
        let now = vec![
            finding(&file, 10, "  w  = torch.load(p)"),
            finding(&file, 20, "w = torch.load(p)"),
            finding(&file, 30, "v = torch.load(q)"),
        ];
        let new = read.new_findings(now, &baseline_path);
        let lines: Vec<u32> = new
            .iter()
            .map(|f| f.location.span.unwrap().start_line)
            .collect();
        assert_eq!(lines, vec![20, 30]);
    }

    #[test]
    fn cited_line_numbers_do_not_count() {
        assert_eq!(
            without_line_numbers("created at line 12, used at lines 3-4: 2 calls"),
            without_line_numbers("created at line 40, used at lines 31-32: 2 calls"),
        );
        assert_ne!(
            without_line_numbers("2 calls at line 3"),
            without_line_numbers("3 calls at line 3")
        );
    }

    #[test]
    fn a_broken_baseline_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.json");
        std::fs::write(&path, "[1,2]").unwrap();
        let err = Baseline::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("b.json") && err.contains("--write-baseline"),
            "{err}"
        );
    }
}
