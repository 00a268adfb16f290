//! Renderers: each turns a list of findings into one output format.
//!
//! Every renderer is a pure function of the findings and [`RenderOptions`]: findings
//! arrive sorted and filtered, and are written in the order given. No renderer panics on
//! odd input (spans past the snippet, empty lists, multi-byte text, tabs), because a
//! reviewer that crashes while reporting hides the findings it already has.

mod concise;
mod github;
mod json;
mod markdown;
mod paths;
mod sarif;
mod snippet;
mod style;
mod summary;
mod text;

use crate::{Finding, RuleInfo};

pub use github::{escape_data as github_escape_data, escape_property as github_escape_property};
pub use summary::Counts;

/// An output format, as named on the command line (`--output-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// rustc/ruff-style diagnostics with source excerpts; the default for terminals.
    Text,
    /// One line per finding, for grepping and editors.
    Concise,
    /// The findings as a JSON array: the stable machine format.
    Json,
    /// SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// GitHub Actions workflow commands, which become annotations on the PR diff.
    Github,
    /// A summary ready to post as a pull-request comment.
    Markdown,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Text,
        Format::Concise,
        Format::Json,
        Format::Sarif,
        Format::Github,
        Format::Markdown,
    ];

    /// The names accepted by [`Format::parse`], in the same order as [`Format::ALL`].
    pub const NAMES: &'static [&'static str] =
        &["text", "concise", "json", "sarif", "github", "markdown"];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Concise => "concise",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Github => "github",
            Format::Markdown => "markdown",
        }
    }

    /// Case-insensitive; surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Option<Format> {
        let s = s.trim();
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What renderers need besides the findings.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions<'a> {
    /// Metadata of every rule that can appear (SARIF `tool.driver.rules`, markdown).
    pub rules: &'a [RuleInfo],
    /// ANSI colors for `text` and `concise`.
    pub color: bool,
    /// The mleng version, reported in SARIF.
    pub tool_version: &'a str,
    /// How many files were reviewed, for summaries.
    pub files_reviewed: usize,
}

/// Renders `findings` in `format`. The result ends with a newline unless it is empty
/// (`github` with no findings writes nothing).
pub fn render(format: Format, findings: &[Finding], options: &RenderOptions) -> String {
    match format {
        Format::Text => text::render(findings, options),
        Format::Concise => concise::render(findings, options),
        Format::Json => json::render(findings),
        Format::Sarif => sarif::render(findings, options),
        Format::Github => github::render(findings),
        Format::Markdown => markdown::render(findings, options),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_every_name_and_nothing_else() {
        for (name, format) in Format::NAMES.iter().zip(Format::ALL) {
            assert_eq!(Format::parse(name), Some(format));
            assert_eq!(format.to_string(), *name);
        }
        assert_eq!(Format::parse(" SARIF "), Some(Format::Sarif));
        assert_eq!(Format::parse("xml"), None);
        assert_eq!(Format::parse(""), None);
    }
}
