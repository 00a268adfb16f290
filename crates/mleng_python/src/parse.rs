//! Parsing, once per file, with ruff's parser. Plain files parse as modules; notebooks parse
//! cell by cell in IPython mode, so `%magic` and `!shell` lines are not errors and a broken
//! cell does not spill its errors into the next one.

use ruff_python_ast::{ModModule, PySourceType};
use ruff_python_parser::{
    parse_cells_unchecked, parse_unchecked_source, Mode, ParseOptions, Parsed,
};
use ruff_text_size::{TextLen, TextRange};

use crate::contained::contain;
use crate::source::{SourceFile, SourceKind};

pub struct ParsedFile {
    pub parsed: Parsed<ModModule>,
    /// Code the parser itself failed on (it panicked instead of reporting an error), blanked
    /// out before parsing the rest; reported as syntax errors.
    unreadable: Vec<SyntaxError>,
}

/// A syntax error, with where it is.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub message: String,
    pub range: TextRange,
}

/// IPython's wildcard object search, `torch.*Tensor?` (short for `%psearch`), is valid in a
/// notebook but not in ruff's IPython grammar, which would report a syntax error on a line that
/// runs fine. Such lines are commented out for the parser; the text keeps its length, so every
/// range still points into the real source.
fn without_wildcard_help(text: &str) -> std::borrow::Cow<'_, str> {
    let is_wildcard_help = |line: &str| {
        let t = line.trim();
        let body = t.trim_start_matches('?').trim_end_matches('?');
        (t.starts_with('?') || t.ends_with('?'))
            && body.contains('*')
            && body
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '*'))
    };
    if !text.lines().any(is_wildcard_help) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if is_wildcard_help(line) {
            // The first character becomes `#` (padded with spaces if it was several bytes).
            let rest = line.trim_start();
            out.push_str(&line[..line.len() - rest.len()]);
            let mut chars = rest.chars();
            let first = chars.next().map_or(0, char::len_utf8);
            out.push('#');
            out.extend(std::iter::repeat_n(' ', first.saturating_sub(1)));
            out.push_str(chars.as_str());
        } else {
            out.push_str(line);
        }
    }
    std::borrow::Cow::Owned(out)
}

impl ParsedFile {
    pub fn parse(source: &SourceFile) -> ParsedFile {
        match (&source.kind, &source.notebook) {
            (SourceKind::Notebook, Some(cells)) => {
                let ranges: Vec<TextRange> = cells.cells.iter().map(|cell| cell.range).collect();
                let text = without_wildcard_help(&source.text);
                parse_notebook(&text, &ranges)
            }
            _ => {
                let text = source.text.as_str();
                match contain(|| parse_unchecked_source(text, PySourceType::Python)) {
                    Ok(parsed) => ParsedFile {
                        parsed,
                        unreadable: Vec::new(),
                    },
                    Err(_) => nothing_readable(TextRange::up_to(text.text_len())),
                }
            }
        }
    }

    pub fn module(&self) -> &ModModule {
        self.parsed.syntax()
    }

    pub fn syntax_errors(&self) -> Vec<SyntaxError> {
        let mut errors: Vec<SyntaxError> = self
            .parsed
            .errors()
            .iter()
            .map(|err| SyntaxError {
                message: err.error.to_string(),
                range: err.location,
            })
            .collect();
        errors.extend(self.unreadable.iter().cloned());
        errors.sort_by_key(|e| e.range.start());
        errors
    }
}

const UNREADABLE: &str =
    "the parser cannot read this code (ruff's parser failed on it; check its brackets and quotes)";

/// Cells parse together; a cell the parser fails on (ruff 0.0.10 asserts on some unbalanced
/// input in IPython mode, e.g. `{)` followed by `;`) is found by parsing each cell alone,
/// blanked, and reported, and the other cells are still parsed.
fn parse_notebook(text: &str, ranges: &[TextRange]) -> ParsedFile {
    let options = ParseOptions::from(Mode::Ipython);
    if let Ok(parsed) = contain(|| parse_cells_unchecked(text, ranges.to_vec(), &options)) {
        return ParsedFile {
            parsed,
            unreadable: Vec::new(),
        };
    }
    let bad: Vec<TextRange> = ranges
        .iter()
        .copied()
        .filter(|&range| contain(|| parse_cells_unchecked(text, vec![range], &options)).is_err())
        .collect();
    let mut blanked = text.to_string();
    for range in &bad {
        blank(&mut blanked, *range);
    }
    match contain(|| parse_cells_unchecked(&blanked, ranges.to_vec(), &options)) {
        Ok(parsed) => ParsedFile {
            parsed,
            unreadable: bad
                .into_iter()
                .map(|range| SyntaxError {
                    message: UNREADABLE.to_string(),
                    range,
                })
                .collect(),
        },
        Err(_) => nothing_readable(TextRange::up_to(text.text_len())),
    }
}

/// Replaces the characters of `range` with as many spaces (newlines kept), so every offset
/// still points where it did.
fn blank(text: &mut String, range: TextRange) {
    let (start, end) = (range.start().to_usize(), range.end().to_usize());
    let Some(part) = text.get(start..end) else {
        return;
    };
    let spaces: String = part
        .chars()
        .flat_map(|c| {
            let n = if c == '\n' { 0 } else { c.len_utf8() };
            std::iter::repeat_n(' ', n).chain((c == '\n').then_some('\n'))
        })
        .collect();
    text.replace_range(start..end, &spaces);
}

/// An empty module with one error over the whole file, when the parser fails on all of it.
fn nothing_readable(range: TextRange) -> ParsedFile {
    ParsedFile {
        parsed: parse_unchecked_source("", PySourceType::Python),
        unreadable: vec![SyntaxError {
            message: UNREADABLE.to_string(),
            range,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::without_wildcard_help;

    #[test]
    fn wildcard_help_lines_are_hidden_from_the_parser_only() {
        let text = "import torch\ntorch.*Tensor?\n  ?np.*load*\nx = a * b  # ok?\ntorch.ones?\n";
        let out = without_wildcard_help(text);
        assert_eq!(out.len(), text.len());
        assert_eq!(
            out,
            "import torch\n#orch.*Tensor?\n  #np.*load*\nx = a * b  # ok?\ntorch.ones?\n"
        );
        assert!(matches!(
            without_wildcard_help("x = 1\n"),
            std::borrow::Cow::Borrowed(_)
        ));
        let accented = "\u{e9}t\u{e9}.*x?\n";
        assert_eq!(without_wildcard_help(accented), "# t\u{e9}.*x?\n");
    }

    #[test]
    fn a_cell_the_parser_fails_on_is_reported_and_the_rest_is_parsed() {
        // ruff 0.0.10 hits `unreachable!` on `{)` then `;` in IPython mode.
        let json = r#"{"cells": [
            {"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": ["import torch\n"]},
            {"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": ["{)\n", ";\n"]},
            {"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": ["x = torch.ones(2)\n"]}
        ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}"#;
        let source = crate::SourceFile::from_notebook_bytes(
            std::path::Path::new("nb.ipynb"),
            json.as_bytes(),
        )
        .unwrap();
        let parsed = super::ParsedFile::parse(&source);
        let errors = parsed.syntax_errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("cannot read"));
        assert_eq!(&source.text[errors[0].range], "{)\n;\n");
        // The other cells' statements are there.
        assert_eq!(parsed.module().body.len(), 2);
    }
}
