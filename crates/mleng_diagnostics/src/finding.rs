use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How loudly a finding speaks. Ordered: `Info < Warning < Error`, so `--fail-on warning`
/// means "any finding at least as severe as a warning".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The part of ML engineering a finding belongs to; the markdown report groups by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Architecture,
    Training,
    Experiment,
    Cv,
    Performance,
    Security,
    /// Problems with the input itself (a file that does not parse, a corrupt log).
    Input,
}

impl Area {
    pub const ALL: [Area; 7] = [
        Area::Architecture,
        Area::Training,
        Area::Experiment,
        Area::Cv,
        Area::Performance,
        Area::Security,
        Area::Input,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Architecture => "architecture",
            Area::Training => "training",
            Area::Experiment => "experiment",
            Area::Cv => "cv",
            Area::Performance => "performance",
            Area::Security => "security",
            Area::Input => "input",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Area::Architecture => "Model architecture",
            Area::Training => "Training pipeline",
            Area::Experiment => "Experiment management",
            Area::Cv => "Computer vision",
            Area::Performance => "Performance",
            Area::Security => "Security",
            Area::Input => "Input problems",
        }
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A 1-based, end-inclusive-line / end-exclusive-column range, in characters.
/// For notebooks the lines are lines *within the cell* named by [`Location::cell`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    pub start_line: u32,
    pub start_column: u32,
    pub end_line: u32,
    pub end_column: u32,
}

impl Span {
    pub fn point(line: u32, column: u32) -> Span {
        Span {
            start_line: line,
            start_column: column,
            end_line: line,
            end_column: column,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    pub path: PathBuf,
    /// 1-based notebook cell number (counting all cells, as Jupyter shows them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
}

impl Location {
    pub fn file(path: impl Into<PathBuf>) -> Location {
        Location {
            path: path.into(),
            cell: None,
            span: None,
        }
    }

    /// `path:line:col`, or `path:cell N:line:col` for a notebook: the form editors and
    /// terminals make clickable for plain files.
    pub fn display(&self) -> String {
        let mut out = self.path.display().to_string();
        if let Some(cell) = self.cell {
            out.push_str(&format!(":cell {cell}"));
        }
        if let Some(span) = self.span {
            out.push_str(&format!(":{}:{}", span.start_line, span.start_column));
        }
        out
    }
}

/// How safe it is to apply a fix without reading it (ruff's model).
///
/// Ordered `Display < Unsafe < Safe`, so "apply everything at least as safe as X" is a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Applicability {
    /// Shown to the user, never applied: the edit needs context only a person has.
    Display,
    /// Changes behaviour beyond the bug (a checkpoint that no longer loads, different
    /// pretrained weights): applied only with `--unsafe-fixes`.
    Unsafe,
    /// Keeps the program's meaning except for the bug it fixes: applied by `--fix`.
    Safe,
}

impl Applicability {
    pub fn as_str(self) -> &'static str {
        match self {
            Applicability::Display => "display",
            Applicability::Unsafe => "unsafe",
            Applicability::Safe => "safe",
        }
    }
}

impl fmt::Display for Applicability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One text edit: replace what `span` covers with `content` (an insertion when the span is
/// empty, a deletion when the content is). The span uses the finding's coordinates: 1-based
/// lines and character columns, cell-relative in a notebook (the cell is the finding's).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Edit {
    pub span: Span,
    pub content: String,
}

impl Edit {
    pub fn replace(span: Span, content: impl Into<String>) -> Edit {
        Edit {
            span,
            content: content.into(),
        }
    }
}

/// A suggested change. `replacement` is the corrected code for the finding's span when the
/// fix is mechanical; `example` shows the corrected code in context when it is not. `edits`
/// are what `--fix` and editors apply, all together or not at all; a rule that gives a
/// `replacement` gets the matching edit from the review engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    #[serde(default = "Fix::default_applicability")]
    pub applicability: Applicability,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<Edit>,
}

impl Fix {
    pub fn new(message: impl Into<String>) -> Fix {
        Fix {
            message: message.into(),
            replacement: None,
            example: None,
            applicability: Applicability::Display,
            edits: Vec::new(),
        }
    }

    fn default_applicability() -> Applicability {
        Applicability::Display
    }

    pub fn with_replacement(mut self, code: impl Into<String>) -> Fix {
        self.replacement = Some(code.into());
        self
    }

    pub fn with_example(mut self, code: impl Into<String>) -> Fix {
        self.example = Some(code.into());
        self
    }

    pub fn with_edit(mut self, edit: Edit) -> Fix {
        self.edits.push(edit);
        self
    }

    pub fn with_applicability(mut self, applicability: Applicability) -> Fix {
        self.applicability = applicability;
        self
    }

    /// Whether `--fix` (`threshold` Safe) or `--unsafe-fixes` (`threshold` Unsafe) applies it.
    pub fn applies_at(&self, threshold: Applicability) -> bool {
        !self.edits.is_empty()
            && self.applicability != Applicability::Display
            && self.applicability >= threshold
    }
}

/// How many of `findings` have a fix that `--fix` (Safe) or `--unsafe-fixes` (Unsafe) applies.
pub fn count_fixable(findings: &[Finding], threshold: Applicability) -> usize {
    findings
        .iter()
        .filter(|f| f.fix.as_ref().is_some_and(|x| x.applies_at(threshold)))
        .count()
}

/// One thing mleng has to say, with everything a renderer needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: String,
    /// The rule's kebab-case name, e.g. `batchnorm-after-dropout`.
    pub name: String,
    pub severity: Severity,
    pub area: Area,
    pub location: Location,
    pub message: String,
    /// Supporting facts (values, steps, related lines), one per entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// Other places the finding is about (the calls of the function it reports, the loss an
    /// activation feeds): where the fix may go instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// The source lines around the span, filled in by the command that read the file so
    /// that renderers stay pure functions of the findings.
    #[serde(skip)]
    pub snippet: Option<Snippet>,
}

/// Another place in the code that a finding is about, with what happens there ("`validate()`
/// is called here"). SARIF calls it a related location, LSP related information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Related {
    pub location: Location,
    pub message: String,
}

/// Source lines for the text renderer: `text` holds whole lines starting at `first_line`
/// (same numbering as the finding's span).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snippet {
    pub first_line: u32,
    pub text: String,
}

/// What a renderer needs to know about a rule (SARIF's `rules` array, markdown's headings),
/// so that renderers do not depend on the rule registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    pub code: String,
    pub name: String,
    pub area: Area,
    pub default_severity: Severity,
    /// One sentence: what the rule finds.
    pub summary: String,
    /// The full documentation in markdown (What / Why / Example / Use instead / References).
    pub docs_markdown: String,
    /// How safe the rule's mechanical fix is (`None`: the rule only advises).
    pub fix: Option<Applicability>,
}

impl Finding {
    pub fn new(
        code: impl Into<String>,
        name: impl Into<String>,
        severity: Severity,
        area: Area,
        location: Location,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            code: code.into(),
            name: name.into(),
            severity,
            area,
            location,
            message: message.into(),
            evidence: Vec::new(),
            related: Vec::new(),
            fix: None,
            snippet: None,
        }
    }

    pub fn with_fix(mut self, fix: Fix) -> Finding {
        self.fix = Some(fix);
        self
    }

    pub fn with_evidence(mut self, line: impl Into<String>) -> Finding {
        self.evidence.push(line.into());
        self
    }

    pub fn with_related(mut self, location: Location, message: impl Into<String>) -> Finding {
        self.relate(location, message);
        self
    }

    /// Adds a related location (for a finding a rule has just reported).
    pub fn relate(&mut self, location: Location, message: impl Into<String>) {
        self.related.push(Related {
            location,
            message: message.into(),
        });
    }

    /// Sort key that lists findings by file, cell, position, then code.
    pub fn sort_key(&self) -> (&std::path::Path, Option<u32>, Option<Span>, &str) {
        (
            &self.location.path,
            self.location.cell,
            self.location.span,
            &self.code,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_order_and_parse() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Error);
        assert_eq!(Severity::parse(" Warning"), Some(Severity::Warning));
        assert_eq!(Severity::parse("fatal"), None);
    }

    #[test]
    fn location_display_names_the_cell() {
        let mut loc = Location::file("nb.ipynb");
        loc.cell = Some(3);
        loc.span = Some(Span::point(2, 5));
        assert_eq!(loc.display(), "nb.ipynb:cell 3:2:5");
    }
}
