use mleng_diagnostics::{Area, RuleInfo, Severity};

use crate::context::Context;

/// A rule's single declaration. Its `docs` are markdown with the sections
/// `## What it does`, `## Why is this bad?`, `## Example`, `## Use instead` and `## References`
/// (ruff's layout), and are what `mleng explain CODE` prints.
pub struct Rule {
    pub code: &'static str,
    pub name: &'static str,
    pub area: Area,
    pub severity: Severity,
    /// Whether findings carry a mechanical replacement for their span.
    pub fixable: bool,
    /// One sentence for tables.
    pub summary: &'static str,
    pub docs: &'static str,
    pub check: fn(&mut Context),
}

impl Rule {
    pub fn info(&self) -> RuleInfo {
        RuleInfo {
            code: self.code.to_string(),
            name: self.name.to_string(),
            area: self.area,
            default_severity: self.severity,
            summary: self.summary.to_string(),
            docs_markdown: self.docs.to_string(),
        }
    }
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code, self.name)
    }
}
