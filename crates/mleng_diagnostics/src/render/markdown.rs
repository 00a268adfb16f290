//! `markdown`: a summary to post as a pull-request comment: totals, counts per area, then
//! one section per area with a table of findings and a collapsible fix for each.

use std::fmt::Write as _;

use super::summary::{plural, Counts};
use super::RenderOptions;
use crate::{Area, Finding, RuleInfo, Severity};

pub(super) fn render(findings: &[Finding], options: &RenderOptions) -> String {
    let files = plural(options.files_reviewed, "file", "files");
    if findings.is_empty() {
        return format!("## mleng review\n\nNo findings in {files}.\n");
    }
    let counts = Counts::of(findings);
    let mut out = format!(
        "## mleng review: {} in {files}\n\n{}\n\n",
        plural(counts.total(), "finding", "findings"),
        counts.breakdown()
    );
    let areas: Vec<(Area, Vec<&Finding>)> = Area::ALL
        .into_iter()
        .map(|area| (area, findings.iter().filter(|f| f.area == area).collect()))
        .filter(|(_, in_area)| !Vec::is_empty(in_area))
        .collect();

    out.push_str("| Area | Errors | Warnings | Infos |\n|---|---:|---:|---:|\n");
    for (area, in_area) in &areas {
        let c = Counts::of(in_area.iter().copied());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            area.title(),
            c.errors,
            c.warnings,
            c.infos
        );
    }
    let _ = writeln!(
        out,
        "| **Total** | **{}** | **{}** | **{}** |",
        counts.errors, counts.warnings, counts.infos
    );

    for (area, in_area) in &areas {
        out.push_str(&section(*area, in_area, options.rules));
    }
    out
}

fn section(area: Area, findings: &[&Finding], rules: &[RuleInfo]) -> String {
    let mut out = format!("\n### {}\n\n", area.title());
    out.push_str("| Severity | Code | Location | Finding |\n|---|---|---|---|\n");
    for finding in findings {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            severity_badge(finding.severity),
            code_span_text(&finding.code),
            cell(&finding.location.display()),
            cell(&finding.message)
        );
    }
    for finding in findings {
        out.push_str(&details(finding, rules));
    }
    out
}

fn severity_badge(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "🛑 error",
        Severity::Warning => "⚠️ warning",
        Severity::Info => "ℹ️ info",
    }
}

/// A collapsible block with the evidence and fix; nothing for a finding that has neither.
fn details(finding: &Finding, rules: &[RuleInfo]) -> String {
    if finding.fix.is_none() && finding.evidence.is_empty() && finding.related.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n<details>\n<summary><code>{}</code> {} at {}</summary>\n\n",
        html(&finding.code),
        html(&finding.name),
        html(&finding.location.display())
    );
    if let Some(rule) = rules.iter().find(|r| r.code == finding.code) {
        let _ = writeln!(out, "_{}_\n", html(&rule.summary));
    }
    for fact in &finding.evidence {
        let _ = writeln!(out, "- {}", html(&one_line(fact)));
    }
    for related in &finding.related {
        let _ = writeln!(
            out,
            "- {}: <code>{}</code>",
            html(&one_line(&related.message)),
            html(&related.location.display())
        );
    }
    if !finding.evidence.is_empty() || !finding.related.is_empty() {
        out.push('\n');
    }
    if let Some(fix) = &finding.fix {
        let _ = writeln!(out, "**Fix:** {}\n", html(&one_line(&fix.message)));
        for code in fix.replacement.iter().chain(fix.example.iter()) {
            out.push_str(&fenced(code));
        }
    }
    out.push_str("</details>\n");
    out
}

/// A ```python block with a fence longer than any backtick run in `code`, so code that
/// itself contains ``` cannot close it early.
fn fenced(code: &str) -> String {
    let longest_run = code.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    format!(
        "{fence}python\n{}\n{fence}\n\n",
        code.trim_end_matches('\n')
    )
}

/// Text for a table cell: `|` would end the cell and a newline the row; `<`/`>`/`&` are
/// escaped so messages cannot open HTML tags in the comment.
fn cell(text: &str) -> String {
    html(text)
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
}

/// A code inside backticks in a table: only `|` (GFM splits cells first) and backticks
/// need care.
fn code_span_text(text: &str) -> String {
    one_line(text).replace('|', "\\|").replace('`', "'")
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn one_line(text: &str) -> String {
    super::concise::one_line(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc<d>"), "a\\|b<br>c&lt;d&gt;");
    }

    #[test]
    fn fences_outgrow_backticks_in_the_code() {
        assert!(fenced("x = 1").starts_with("```python\n"));
        assert!(fenced("s = '````'").starts_with("`````python\n"));
    }
}
