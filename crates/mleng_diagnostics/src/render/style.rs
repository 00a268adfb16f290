//! ANSI styling for the terminal formats. Styles are applied only when color is on, so
//! the plain output (tests, pipes, CI logs) has no escape codes at all.

use crate::Severity;

#[derive(Debug, Clone, Copy)]
pub(super) enum Style {
    Severity(Severity),
    /// Bold, for the message in the header.
    Emphasis,
    /// Line numbers, `|`, `-->`.
    Gutter,
    Help,
    Removed,
    Added,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Severity(Severity::Error) => "1;31",
            Style::Severity(Severity::Warning) => "1;33",
            Style::Severity(Severity::Info) => "1;36",
            Style::Emphasis => "1",
            Style::Gutter => "1;34",
            Style::Help => "1;36",
            Style::Removed => "31",
            Style::Added => "32",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Painter {
    pub color: bool,
}

impl Painter {
    pub fn paint(self, style: Style, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{}m{text}\x1b[0m", style.code())
        } else {
            text.to_string()
        }
    }
}
