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

impl ParsedFile {
    pub fn parse(source: &SourceFile) -> ParsedFile {
        let parsed = match (&source.kind, &source.notebook) {
            (SourceKind::Notebook, Some(cells)) => {
                let ranges: Vec<TextRange> = cells.cells.iter().map(|cell| cell.range).collect();
                parse_cells_unchecked(&source.text, ranges, &ParseOptions::from(Mode::Ipython))
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
