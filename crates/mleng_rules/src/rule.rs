use mleng_diagnostics::{Applicability, Area, RuleInfo, Severity};

use crate::context::Context;

/// A rule's single declaration. Its `docs` are markdown with the sections
/// `## What it does`, `## Why is this bad?`, `## Example`, `## Use instead` and `## References`
/// (ruff's layout), and are what `mleng explain CODE` prints.
pub struct Rule {
    pub code: &'static str,
    pub name: &'static str,
    pub area: Area,
    pub severity: Severity,
    /// How safe the rule's mechanical fix is to apply (`None`: advice only). Findings whose
    /// fix carries a replacement get edits with this applicability; the docs' `## Fix`
    /// section says why.
    pub fix: Option<Applicability>,
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
            fix: self.fix,
        }
    }
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code, self.name)
    }
}
