//! What a rule's check sees: the file's semantic index, and a way to report.

use mleng_diagnostics::{Applicability, Edit, Finding, Fix, Location, Severity, Span};
use mleng_project::{ModuleId, ProjectModel};
use mleng_python::SemanticIndex;
use ruff_text_size::TextRange;

use crate::rule::Rule;

pub struct Context<'i, 'a> {
    pub index: &'i SemanticIndex<'a>,
    /// The project the file is reviewed in: other files' classes, functions and callers.
    pub project: &'i ProjectModel,
    /// This file in [`Context::project`].
    pub module: ModuleId,
    pub(crate) rule: &'static Rule,
    pub(crate) findings: Vec<Finding>,
    /// Global (whole-text) first and last line of each finding, for `# noqa` and snippets,
    /// which work on the text rather than on notebook cells.
    pub(crate) text_lines: Vec<(u32, u32)>,
    /// Per finding, what a project check needs to confirm it (see [`Context::set_subject`]).
    pub(crate) subjects: Vec<Option<String>>,
}

/// At most this many related locations on one finding (the first callers, say): enough to
/// show where else the fix may go without burying the finding.
pub const MAX_RELATED: usize = 3;

impl<'i, 'a> Context<'i, 'a> {
    pub fn new(
        index: &'i SemanticIndex<'a>,
        project: &'i ProjectModel,
        module: ModuleId,
        rule: &'static Rule,
    ) -> Self {
        Context {
            index,
            project,
            module,
            rule,
            findings: Vec::new(),
            text_lines: Vec::new(),
            subjects: Vec::new(),
        }
    }

    /// What a call of this file refers to in the project: a function of this or another file
    /// (`evaluate(...)` from `engine.py`, a nested `_eval_epoch()`, `self.validate()` in a
    /// method), a class or a module.
    pub fn resolve_call(&self, call: usize) -> Option<mleng_project::Symbol> {
        let call = self.index.calls.get(call)?;
        let callee = mleng_python::index::literals::dotted(&call.expr.func)?;
        let class = call
            .function
            .and_then(|f| self.index.functions[f].class)
            .map(|c| self.index.classes[c].name);
        self.project.resolve_call(self.module, class, &callee)
    }

    /// Reports a finding of the current rule at `range`, at the rule's default severity.
    pub fn report(
        &mut self,
        range: TextRange,
        message: impl Into<String>,
        fix: Option<Fix>,
    ) -> &mut Finding {
        self.report_with_severity(range, self.rule.severity, message, fix)
    }

    pub fn report_with_severity(
        &mut self,
        range: TextRange,
        severity: Severity,
        message: impl Into<String>,
        fix: Option<Fix>,
    ) -> &mut Finding {
        let location = location_of(self.index, range);
        let mut finding = Finding::new(
            self.rule.code,
            self.rule.name,
            severity,
            self.rule.area,
            location,
            message,
        );
        let dedented = self.in_dedented_cell(&finding.location);
        finding.fix = fix.map(|fix| fix_with_edits(self.rule, fix, &finding.location, dedented));
        let source = self.index.source;
        self.text_lines.push((
            source.lines.line_of(range.start()),
            source.lines.line_of(range.end()),
        ));
        self.findings.push(finding);
        self.subjects.push(None);
        let last = self.findings.len() - 1;
        &mut self.findings[last]
    }

    /// A notebook cell indented as a whole (see [`fix_with_edits`]).
    fn in_dedented_cell(&self, location: &Location) -> bool {
        location.cell.is_some_and(|number| {
            self.index.source.notebook.as_ref().is_some_and(|nb| {
                nb.cells
                    .iter()
                    .any(|cell| cell.number == number && cell.dedented)
            })
        })
    }

    /// Names what the last finding is about, for a project check that confirms candidates
    /// (the model class whose layers decide whether a missing `eval()` matters).
    pub fn set_subject(&mut self, subject: impl Into<String>) {
        if let Some(last) = self.subjects.last_mut() {
            *last = Some(subject.into());
        }
    }

    /// The indexed function `function` of this file as a symbol of the project model (to ask
    /// who calls it and what they pass).
    pub fn project_function(&self, function: usize) -> Option<mleng_project::Symbol> {
        let def = self.index.functions.get(function)?.def;
        let line = self.index.source.lines.line_of(def.range.start());
        self.project.function_at(self.module, line)
    }

    /// Where a call of the project model is (any file), for a finding's related locations.
    pub fn site_location(
        &self,
        module: ModuleId,
        site: &mleng_project::summary::CallSite,
    ) -> Location {
        let mut location = Location::file(self.project.module(module).path.clone());
        location.cell = site.cell;
        location.span = Some(Span::point(site.line, site.column));
        location
    }

    /// Where `range` of this file is, for a finding's related locations.
    pub fn location(&self, range: TextRange) -> Location {
        location_of(self.index, range)
    }

    /// The code at `range` on one line, shortened to 80 characters: for messages that quote a
    /// loop header or a call that the source spreads over several lines.
    pub fn brief(&self, range: TextRange) -> String {
        one_line(self.text(range), 80)
    }

    /// The source text of a range (for messages and fixes).
    pub fn text(&self, range: TextRange) -> &'a str {
        self.index.text(range)
    }

    /// Test or benchmark code (see [`crate::test_code`]): toy models and throwaway
    /// pipelines, so advice there is noise.
    pub fn is_test_file(&self) -> bool {
        crate::test_code::is_test_code(&self.index.source.path)
    }

    /// The leading whitespace of the line where `range` starts, for multi-line fixes.
    pub fn indent_of(&self, range: TextRange) -> String {
        let source = self.index.source;
        let line = source.lines.line_of(range.start());
        source
            .lines
            .line_text(&source.text, line)
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect()
    }

    /// Whether `range` starts its line (only indentation before it): a statement on its own
    /// line, where [`Context::lines_at`] can add lines without moving code into or out of a
    /// block (`if ok: clip(...)` is not one).
    pub fn starts_line(&self, range: TextRange) -> bool {
        let source = self.index.source;
        let line = source.lines.line_of(range.start());
        let start = source.lines.line_start(line).unwrap_or(0) as usize;
        source
            .text
            .get(start..range.start().to_usize())
            .is_some_and(|before| before.chars().all(char::is_whitespace))
    }

    /// Joins code lines into a replacement for `range`: the first line goes where the span
    /// starts, the others get that line's indentation.
    pub fn lines_at(&self, range: TextRange, lines: &[&str]) -> String {
        let indent = self.indent_of(range);
        lines.join(&format!("\n{indent}"))
    }

    /// `path:line` of a range, for evidence that points elsewhere in the file.
    pub fn where_is(&self, range: TextRange) -> String {
        let location = location_of(self.index, range);
        match (location.cell, location.span) {
            (Some(cell), Some(span)) => format!("cell {cell}, line {}", span.start_line),
            (None, Some(span)) => format!("line {}", span.start_line),
            _ => String::new(),
        }
    }
}

/// A rule's replacement for the finding's span becomes the edit `--fix` applies, with the
/// rule's applicability. In a notebook cell indented as a whole (`dedented`) columns are not the
/// notebook's, so the edit is shown but never applied (`--fix` checks each cell again before
/// editing it, which also covers project findings, whose cells are not known here).
pub(crate) fn fix_with_edits(
    rule: &Rule,
    mut fix: Fix,
    location: &Location,
    dedented: bool,
) -> Fix {
    let Some(applicability) = rule.fix else {
        return fix;
    };
    if fix.edits.is_empty() {
        let (Some(replacement), Some(span)) = (fix.replacement.as_ref(), location.span) else {
            return fix;
        };
        fix.edits.push(Edit::replace(span, replacement.clone()));
    }
    fix.applicability = if dedented {
        Applicability::Display
    } else {
        applicability
    };
    fix
}

/// Converts a byte range into a location; for notebooks, into a cell and cell-relative lines.
pub fn location_of(index: &SemanticIndex, range: TextRange) -> Location {
    let source = index.source;
    let (start_line, start_column) = source.lines.line_column(&source.text, range.start());
    let (end_line, end_column) = source.lines.line_column(&source.text, range.end());
    let mut location = Location::file(source.path.clone());
    match source.cell_of_line(start_line) {
        Some((cell, cell_line)) => {
            let offset = start_line - cell_line;
            location.cell = Some(cell);
            location.span = Some(Span {
                start_line: cell_line,
                start_column,
                end_line: end_line.saturating_sub(offset).max(cell_line),
                end_column,
            });
        }
        None => {
            location.span = Some(Span {
                start_line,
                start_column,
                end_line,
                end_column,
            })
        }
    }
    location
}

/// A call's text with one more keyword argument before its closing parenthesis
/// (`torch.load(p)` + `weights_only=True` -> `torch.load(p, weights_only=True)`).
pub(crate) fn with_keyword(call: &str, keyword: &str) -> String {
    let Some(pos) = call.rfind(')') else {
        return call.to_string();
    };
    let before = &call[..pos];
    let head = before.trim_end();
    let closing = &before[head.len()..];
    // One argument per line (`f(\n    a,\n    b,\n)`): the keyword gets its own line, with
    // the indentation of the last argument, and the closing bracket stays where it was.
    if closing.contains('\n') && !head.ends_with('(') {
        let last_line = head.rsplit('\n').next().unwrap_or(head);
        let indent: String = last_line
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect();
        let comma = if head.ends_with(',') { "" } else { "," };
        return format!("{head}{comma}\n{indent}{keyword},{closing}{}", &call[pos..]);
    }
    let sep = if head.ends_with('(') {
        ""
    } else if head.ends_with(',') {
        " "
    } else {
        ", "
    };
    format!("{head}{sep}{keyword})")
}

/// `text` with its whitespace runs collapsed to one space, cut to `max` characters (with `...`).
pub fn one_line(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > max {
        format!(
            "{}...",
            line.chars().take(max.saturating_sub(3)).collect::<String>()
        )
    } else {
        line
    }
}
