//! Counting findings by severity, and the closing summary line of `text` and `concise`.

use crate::{Applicability, Finding, Severity};

/// Findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

impl Counts {
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Counts {
        let mut counts = Counts::default();
        for finding in findings {
            counts.add(finding.severity);
        }
        counts
    }

    pub fn add(&mut self, severity: Severity) {
        match severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
            Severity::Info => self.infos += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.errors + self.warnings + self.infos
    }

    /// `1 error, 2 warnings, 0 infos`.
    pub fn breakdown(&self) -> String {
        format!(
            "{}, {}, {}",
            plural(self.errors, "error", "errors"),
            plural(self.warnings, "warning", "warnings"),
            plural(self.infos, "info", "infos"),
        )
    }
}

pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `Found 3 findings (1 error, 2 warnings, 0 infos) in 4 files.` or
/// `No findings in 4 files.` (no trailing newline).
pub(super) fn line(findings: &[Finding], files_reviewed: usize) -> String {
    let counts = Counts::of(findings);
    let files = plural(files_reviewed, "file", "files");
    if counts.total() == 0 {
        format!("No findings in {files}.")
    } else {
        format!(
            "Found {} ({}) in {files}.{}",
            plural(counts.total(), "finding", "findings"),
            counts.breakdown(),
            fixable_hint(findings)
        )
    }
}

/// ` 2 fixable with --fix (1 more with --unsafe-fixes).`, or nothing.
fn fixable_hint(findings: &[Finding]) -> String {
    let applies = |threshold| {
        findings
            .iter()
            .filter(|f| f.fix.as_ref().is_some_and(|x| x.applies_at(threshold)))
            .count()
    };
    let safe = applies(Applicability::Safe);
    let more = applies(Applicability::Unsafe) - safe;
    match (safe, more) {
        (0, 0) => String::new(),
        (0, more) => format!(" {more} fixable with --fix --unsafe-fixes."),
        (safe, 0) => format!(" {safe} fixable with --fix."),
        (safe, more) => format!(" {safe} fixable with --fix ({more} more with --unsafe-fixes)."),
    }
}
