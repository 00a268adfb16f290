//! The project-level pass. While files are reviewed in parallel, each file's index is
//! distilled into [`FileFacts`] (does it train, is it run as a script, what does it seed,
//! which `torch.load` calls lack `weights_only`, ...). Requirement files are read as
//! [`Requirements`]. Once every file is done, project rules see all facts together and report
//! once, at the file where the problem is (the training entry point, the requirement file),
//! instead of on every file that imports torch.
//!
//! A project rule is an ordinary [`Rule`] (code, docs, selection, severity overrides,
//! suppression comments all work the same) plus a [`ProjectRule`] entry that gives its
//! project check. An area lists them in its `PROJECT_RULES`; the registry collects them.
//! A rule may have both halves (`SEC001` checks explicit `weights_only=False` per file and
//! the missing argument against the project's PyTorch pin).

mod facts;
pub mod requirements;

use std::path::{Path, PathBuf};

use mleng_diagnostics::{Finding, Fix, Location, Severity, Snippet};

use crate::context::Context;
use crate::rule::Rule;

pub use facts::{collect as collect_facts, FileFacts};
pub use requirements::Requirements;

/// A rule's project half.
pub struct ProjectRule {
    pub rule: &'static Rule,
    pub check: fn(&mut ProjectContext),
}

/// The per-file check of a rule that only has a project half.
pub(crate) fn no_file_check(_: &mut Context) {}

/// A place in a reviewed file, captured while its index was alive: where it is, its text,
/// and the text of its first and last lines (for `# noqa` comments and snippets).
#[derive(Debug, Clone)]
pub struct Site {
    pub location: Location,
    pub text: String,
    /// A short name for messages (`torch.load(path, ...)`); the text when not set.
    pub label: String,
    pub first_line_text: String,
    pub last_line_text: String,
    pub snippet: Option<Snippet>,
}

/// Everything the project rules see.
#[derive(Debug, Default)]
pub struct ProjectFacts {
    pub files: Vec<FileFacts>,
    pub requirements: Requirements,
}

impl ProjectFacts {
    /// The file whose stem is `module`'s last segment and whose path ends with the module's
    /// path (`engine` -> `engine.py`, `pkg.engine` -> `pkg/engine.py`).
    pub fn file_for_module(&self, module: &str) -> Option<&FileFacts> {
        let rel: PathBuf = module.split('.').collect();
        self.files
            .iter()
            .find(|f| f.path.with_extension("").ends_with(&rel))
    }
}

pub struct ProjectContext<'p> {
    pub facts: &'p ProjectFacts,
    pub(crate) rule: &'static Rule,
    pub(crate) findings: Vec<(Finding, String, String)>,
}

impl<'p> ProjectContext<'p> {
    pub fn new(facts: &'p ProjectFacts, rule: &'static Rule) -> Self {
        ProjectContext {
            facts,
            rule,
            findings: Vec::new(),
        }
    }

    /// Reports a finding of the current rule at a site of `file`.
    pub fn report(
        &mut self,
        _file: &FileFacts,
        site: &Site,
        message: impl Into<String>,
        fix: Option<Fix>,
    ) -> &mut Finding {
        self.report_with_severity(site, self.rule.severity, message, fix)
    }

    pub fn report_with_severity(
        &mut self,
        site: &Site,
        severity: Severity,
        message: impl Into<String>,
        fix: Option<Fix>,
    ) -> &mut Finding {
        let mut finding = Finding::new(
            self.rule.code,
            self.rule.name,
            severity,
            self.rule.area,
            site.location.clone(),
            message,
        );
        finding.fix = fix;
        finding.snippet = site.snippet.clone();
        self.findings.push((
            finding,
            site.first_line_text.clone(),
            site.last_line_text.clone(),
        ));
        let last = self.findings.len() - 1;
        &mut self.findings[last].0
    }
}

/// Whether `path` is a requirement file the project pass reads.
pub fn is_requirements_file(path: &Path) -> bool {
    requirements::is_requirements_file(path)
}
