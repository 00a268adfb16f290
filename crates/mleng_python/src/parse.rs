//! Parsing, once per file, with ruff's parser. Plain files parse as modules; notebooks parse
//! cell by cell in IPython mode, so `%magic` and `!shell` lines are not errors and a broken
//! cell does not spill its errors into the next one.

use ruff_python_ast::{ModModule, PySourceType};
use ruff_python_parser::{
    parse_cells_unchecked, parse_unchecked_source, Mode, ParseOptions, Parsed,
};
use ruff_text_size::TextRange;

use crate::source::{SourceFile, SourceKind};

pub struct ParsedFile {
    pub parsed: Parsed<ModModule>,
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
        let parsed = match (&source.kind, &source.notebook) {
            (SourceKind::Notebook, Some(cells)) => {
                let ranges: Vec<TextRange> = cells.cells.iter().map(|cell| cell.range).collect();
                let text = without_wildcard_help(&source.text);
                parse_cells_unchecked(&text, ranges, &ParseOptions::from(Mode::Ipython))
            }
            _ => parse_unchecked_source(&source.text, PySourceType::Python),
        };
        ParsedFile { parsed }
    }

    pub fn module(&self) -> &ModModule {
        self.parsed.syntax()
    }

    pub fn syntax_errors(&self) -> Vec<SyntaxError> {
        self.parsed
            .errors()
            .iter()
            .map(|err| SyntaxError {
                message: err.error.to_string(),
                range: err.location,
            })
            .collect()
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
}
