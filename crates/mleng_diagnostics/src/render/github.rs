//! `github`: GitHub Actions workflow commands, which GitHub turns into annotations on
//! the pull request's diff.
//!
//! `::warning file=train.py,line=12,col=9,endLine=12,endColumn=25,title=TRN001 missing-gradient-clipping::message`

use super::paths;
use crate::{Finding, Severity};

pub(super) fn render(findings: &[Finding]) -> String {
    findings.iter().map(command).collect()
}

fn command(finding: &Finding) -> String {
    let level = match finding.severity {
        Severity::Info => "notice",
        Severity::Warning => "warning",
        Severity::Error => "error",
    };
    let location = &finding.location;
    let mut properties = vec![("file", paths::forward_slashes(&location.path))];
    let mut message = finding.message.clone();
    match (location.cell, location.span) {
        // Line numbers inside a notebook cell would point at the wrong line of the
        // .ipynb JSON, so a notebook finding is annotated on the file and names the
        // cell in its message instead.
        (Some(cell), span) => {
            let at = span.map_or(String::new(), |s| {
                format!(", line {}:{}", s.start_line, s.start_column)
            });
            message = format!("cell {cell}{at}: {message}");
        }
        (None, Some(span)) => {
            properties.push(("line", span.start_line.to_string()));
            properties.push(("col", span.start_column.to_string()));
            properties.push(("endLine", span.end_line.to_string()));
            properties.push(("endColumn", span.end_column.to_string()));
        }
        (None, None) => {}
    }
    properties.push(("title", format!("{} {}", finding.code, finding.name)));
    if let Some(fix) = finding
        .fix
        .as_ref()
        .filter(|f| !f.message.trim().is_empty())
    {
        message.push_str("\nHelp: ");
        message.push_str(&fix.message);
    }
    let properties: Vec<String> = properties
        .iter()
        .map(|(key, value)| format!("{key}={}", escape_property(value)))
        .collect();
    format!(
        "::{level} {}::{}\n",
        properties.join(","),
        escape_data(&message)
    )
}

/// Escapes a command's message, as GitHub's toolkit does (`escapeData`): `%`, `\r`, `\n`.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (`file=`, `title=`), as GitHub's toolkit does
/// (`escapeProperty`): the message escapes plus `:` and `,`, which would otherwise end
/// the value.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_follow_the_actions_toolkit() {
        assert_eq!(escape_data("100%\r\nok: a,b"), "100%25%0D%0Aok: a,b");
        assert_eq!(escape_property("C:\\a,b%\n"), "C%3A\\a%2Cb%25%0A");
        // `%` first, so the escapes themselves are not escaped again.
        assert_eq!(escape_property("%3A"), "%253A");
    }
}
