//! `text`: rustc/ruff-style diagnostics.
//!
//! ```text
//! warning[TRN001] missing-gradient-clipping: optimizer steps without gradient clipping
//!   --> train.py:12:9
//!    |
//! 12 |         optimizer.step()
//!    |         ^^^^^^^^^^^^^^^^
//!    |
//!    = help: clip gradients between backward() and step()
//! ```

use super::snippet::{self, Patch, Row};
use super::style::{Painter, Style};
use super::{summary, RenderOptions};
use crate::{Finding, Fix};

pub(super) fn render(findings: &[Finding], options: &RenderOptions) -> String {
    let painter = Painter {
        color: options.color,
    };
    let mut out = String::new();
    for finding in findings {
        out.push_str(&render_one(finding, painter));
        out.push('\n');
    }
    out.push_str(&summary::line(findings, options.files_reviewed));
    out.push('\n');
    out
}

/// The parts of one diagnostic below its header, gathered first so that the gutter can be
/// as wide as the widest line number.
struct Body {
    excerpt: Vec<Row>,
    /// A replacement that can be shown as a `-`/`+` diff of the snippet.
    diff: Option<Patch>,
    /// Suggested code shown as plain lines: a replacement that could not be diffed,
    /// and the example.
    code_blocks: Vec<String>,
}

/// Draws the left margin: line numbers right-aligned to a fixed width, then a separator
/// (`|`, `-`, `+`, `=`).
struct Gutter {
    width: usize,
    painter: Painter,
}

impl Gutter {
    /// One output line. Text is trimmed before it is painted, so no line ends in spaces
    /// and colored lines do not hide trailing blanks inside the escape codes.
    fn line(
        &self,
        number: Option<u32>,
        separator: &str,
        text: &str,
        style: Option<Style>,
    ) -> String {
        let margin = self.margin(number, separator);
        let text = text.trim_end();
        match style {
            _ if text.is_empty() => format!("{margin}\n"),
            Some(style) => format!("{margin} {}\n", self.painter.paint(style, text)),
            None => format!("{margin} {text}\n"),
        }
    }

    /// The painted margin: `12 |`, `   =`.
    fn margin(&self, number: Option<u32>, separator: &str) -> String {
        let number = number.map_or(String::new(), |n| n.to_string());
        let margin = format!("{number:>w$} {separator}", w = self.width);
        self.painter.paint(Style::Gutter, &margin)
    }

    fn bar(&self) -> String {
        self.line(None, "|", "", None)
    }
}

fn render_one(finding: &Finding, painter: Painter) -> String {
    let body = Body::of(finding);
    let gutter = Gutter {
        width: body.gutter_width(),
        painter,
    };
    let severity = Style::Severity(finding.severity);
    let mut out = String::new();

    let label = format!("{}[{}]", finding.severity, finding.code);
    let headline = if finding.name.is_empty() {
        finding.message.clone()
    } else {
        format!("{}: {}", finding.name, finding.message)
    };
    let headline = safe_lines(&headline).join("\n");
    if headline.trim().is_empty() {
        out.push_str(&format!("{}\n", painter.paint(severity, &label)));
    } else {
        out.push_str(&format!(
            "{} {}\n",
            painter.paint(severity, &label),
            painter.paint(Style::Emphasis, &headline)
        ));
    }
    out.push_str(&format!(
        "{}{} {}\n",
        " ".repeat(gutter.width),
        painter.paint(Style::Gutter, "-->"),
        safe(&finding.location.display())
    ));

    if !body.excerpt.is_empty() {
        out.push_str(&gutter.bar());
        for row in &body.excerpt {
            out.push_str(&excerpt_row(&gutter, row, severity));
        }
        // The closing bar separates the excerpt from notes; with none, it is noise.
        if !finding.evidence.is_empty() || !finding.related.is_empty() || finding.fix.is_some() {
            out.push_str(&gutter.bar());
        }
    }
    for fact in &finding.evidence {
        let note = labelled(painter, Style::Emphasis, "evidence", fact);
        out.push_str(&gutter.line(None, "=", &note, None));
    }
    for related in &finding.related {
        let text = format!("{}: {}", safe(&related.location.display()), related.message);
        let note = labelled(painter, Style::Emphasis, "note", &text);
        out.push_str(&gutter.line(None, "=", &note, None));
    }
    if let Some(fix) = &finding.fix {
        let note = labelled(painter, Style::Help, "help", &fix.message);
        out.push_str(&gutter.line(None, "=", &note, None));
    }
    if let Some(patch) = &body.diff {
        out.push_str(&gutter.bar());
        for (number, line) in &patch.old {
            out.push_str(&gutter.line(Some(*number), "-", line, Some(Style::Removed)));
        }
        for (number, line) in added_numbers(patch).zip(&patch.new) {
            out.push_str(&gutter.line(Some(number), "+", line, Some(Style::Added)));
        }
    }
    for block in body.code_blocks.iter().filter(|b| !b.trim().is_empty()) {
        out.push_str(&gutter.bar());
        for line in block.lines() {
            let line = snippet::terminal_text(line);
            out.push_str(&gutter.line(None, "|", &line, Some(Style::Added)));
        }
    }
    out
}

fn excerpt_row(gutter: &Gutter, row: &Row, severity: Style) -> String {
    match row {
        Row::Source { number, text, mark } => {
            let mut out = gutter.line(Some(*number), "|", text, None);
            if let Some((offset, width)) = mark {
                // Only the carets are painted, so the indent stays plain.
                let carets = gutter.painter.paint(severity, &"^".repeat(*width));
                let margin = gutter.margin(None, "|");
                out.push_str(&format!("{margin} {}{carets}\n", " ".repeat(*offset)));
            }
            out
        }
        Row::Elided => format!("{}\n", gutter.painter.paint(Style::Gutter, "...")),
    }
}

impl Body {
    fn of(finding: &Finding) -> Body {
        let span = finding.location.span;
        let excerpt = finding
            .snippet
            .as_ref()
            .map(|s| snippet::excerpt(s, span))
            .unwrap_or_default();
        let mut diff = None;
        let mut code_blocks = Vec::new();
        if let Some(Fix {
            replacement,
            example,
            ..
        }) = &finding.fix
        {
            if let Some(replacement) = replacement {
                diff = match (&finding.snippet, span) {
                    (Some(s), Some(span)) => snippet::patch(s, span, replacement),
                    _ => None,
                };
                if diff.is_none() {
                    code_blocks.push(replacement.clone());
                }
            }
            code_blocks.extend(example.iter().cloned());
        }
        Body {
            excerpt,
            diff,
            code_blocks,
        }
    }

    /// Digits of the largest line number drawn, so numbers right-align in the gutter.
    fn gutter_width(&self) -> usize {
        let excerpt = self.excerpt.iter().filter_map(|row| match row {
            Row::Source { number, .. } => Some(*number),
            Row::Elided => None,
        });
        let diff = self.diff.iter().flat_map(|patch| {
            let numbers = patch.old.iter().map(|(n, _)| *n);
            numbers.chain(added_numbers(patch))
        });
        let widest = excerpt.chain(diff).max().unwrap_or(0);
        widest.to_string().len()
    }
}

/// Line numbers for a patch's new lines, counting on from its first old line. Saturating,
/// because a span near `u32::MAX` must not overflow.
fn added_numbers(patch: &Patch) -> impl Iterator<Item = u32> + '_ {
    let first = patch.old.first().map_or(0, |(n, _)| *n);
    (0..patch.new.len()).map(move |i| first.saturating_add(u32::try_from(i).unwrap_or(u32::MAX)))
}

/// `evidence: text` / `help: text`, with continuation lines under the text.
fn labelled(painter: Painter, style: Style, label: &str, text: &str) -> String {
    let indent = format!("\n{}", " ".repeat(label.len() + 2));
    format!(
        "{}: {}",
        painter.paint(style, label),
        safe_lines(text).join(&indent)
    )
}

fn safe(text: &str) -> String {
    safe_lines(text).join(" ")
}

/// Lines of `text` with terminal control characters neutralised.
fn safe_lines(text: &str) -> Vec<String> {
    text.lines().map(snippet::terminal_text).collect()
}
