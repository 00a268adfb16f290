//! `concise`: one line per finding, `path:line:col: CODE [severity] message`, then the
//! summary line.

use super::style::{Painter, Style};
use super::{summary, RenderOptions};
use crate::Finding;

pub(super) fn render(findings: &[Finding], options: &RenderOptions) -> String {
    let painter = Painter {
        color: options.color,
    };
    let mut out = String::new();
    for finding in findings {
        let severity = finding.severity;
        out.push_str(&format!(
            "{}: {} [{}] {}\n",
            one_line(&finding.location.display()),
            painter.paint(Style::Severity(severity), &finding.code),
            painter.paint(Style::Severity(severity), severity.as_str()),
            one_line(&finding.message),
        ));
    }
    out.push_str(&summary::line(findings, options.files_reviewed));
    out.push('\n');
    out
}

/// The format promises one line per finding, so line breaks in a message become spaces.
pub(super) fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
