//! Turning a finding's [`Snippet`] into the lines the `text` format shows: which source
//! lines, how they look on a terminal, where the `^^^` go, and what a fix's replacement
//! makes of them.
//!
//! Everything here works in character columns (as [`Span`] does) and converts to display
//! columns only at the end, so tabs and wide characters keep the carets aligned.

use unicode_width::UnicodeWidthChar;

use crate::{Snippet, Span};

/// Lines of context shown around the span.
const CONTEXT: u32 = 1;
/// Longest excerpt before the middle is elided.
const MAX_LINES: usize = 9;
/// Lines shown from a snippet when the finding has no span to point at.
const UNANCHORED_LINES: usize = 3;
/// Tabs are drawn as this many spaces, like ruff does, so the marks can be lined up.
const TAB: &str = "    ";

/// One row of an excerpt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Row {
    Source {
        number: u32,
        /// Terminal-safe text: tabs expanded, control characters replaced.
        text: String,
        /// Display columns: (offset, width) of the `^` run, if the span touches this line.
        mark: Option<(usize, usize)>,
    },
    /// Lines left out of a long excerpt.
    Elided,
}

/// The rows to draw for `snippet` and `span`; empty when there is nothing useful to show
/// (no snippet, or a span outside it).
pub(super) fn excerpt(snippet: &Snippet, span: Option<Span>) -> Vec<Row> {
    let lines = numbered_lines(snippet);
    let Some(span) = span else {
        return lines
            .into_iter()
            .take(UNANCHORED_LINES)
            .map(|(number, raw)| source_row(number, raw, None))
            .collect();
    };
    let Span {
        start_line: first,
        end_line: last,
        ..
    } = normalized(span);
    if !lines.iter().any(|(n, _)| (first..=last).contains(n)) {
        return Vec::new();
    }
    let window = first.saturating_sub(CONTEXT)..=last.saturating_add(CONTEXT);
    let rows: Vec<Row> = lines
        .into_iter()
        .filter(|(n, _)| window.contains(n))
        .map(|(number, raw)| source_row(number, raw, mark_columns(span, number, raw)))
        .collect();
    elide_middle(rows)
}

/// A fix's replacement applied to the snippet, for a `-`/`+` diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Patch {
    /// The span's lines as they are, with their numbers.
    pub old: Vec<(u32, String)>,
    /// The same lines with the replacement spliced in.
    pub new: Vec<String>,
}

/// The span's lines before and after applying `replacement`. `None` when the snippet
/// does not hold every line of the span, so the caller falls back to showing the
/// replacement alone.
pub(super) fn patch(snippet: &Snippet, span: Span, replacement: &str) -> Option<Patch> {
    let span = normalized(span);
    let (first, last) = (span.start_line, span.end_line);
    let old: Vec<(u32, &str)> = numbered_lines(snippet)
        .into_iter()
        .filter(|(n, _)| (first..=last).contains(n))
        .collect();
    let expected = usize::try_from(last - first).ok()?.checked_add(1)?;
    if old.len() != expected {
        return None;
    }
    let (_, first_raw) = old.first()?;
    let (_, last_raw) = old.last()?;
    let start = char_index(span.start_column).min(first_raw.chars().count());
    let mut end = char_index(span.end_column).min(last_raw.chars().count());
    if first == last {
        end = end.max(start);
    }
    let patched: String = first_raw
        .chars()
        .take(start)
        .chain(replacement.chars())
        .chain(last_raw.chars().skip(end))
        .collect();
    let old = old
        .into_iter()
        .map(|(n, raw)| (n, terminal_text(raw)))
        .collect();
    let new = patched.lines().map(terminal_text).collect();
    Some(Patch { old, new })
}

/// Snippet lines with their numbers. A `first_line` of 0 is treated as 1 rather than
/// trusted, since spans are 1-based.
fn numbered_lines(snippet: &Snippet) -> Vec<(u32, &str)> {
    let first = snippet.first_line.max(1);
    snippet
        .text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let offset = u32::try_from(i).unwrap_or(u32::MAX);
            (first.saturating_add(offset), line)
        })
        .collect()
}

/// The span with its start before its end, whichever way round it was written, so a
/// malformed span still draws something sensible.
fn normalized(span: Span) -> Span {
    let start = (span.start_line, span.start_column);
    let end = (span.end_line, span.end_column);
    let ((start_line, start_column), (end_line, end_column)) = if start <= end {
        (start, end)
    } else {
        (end, start)
    };
    Span {
        start_line,
        start_column,
        end_line,
        end_column,
    }
}

/// 1-based character column to 0-based character index; column 0 is read as 1.
fn char_index(column: u32) -> usize {
    usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX)
}

fn source_row(number: u32, raw: &str, mark: Option<(usize, usize)>) -> Row {
    Row::Source {
        number,
        text: terminal_text(raw),
        mark,
    }
}

/// The display-column mark for line `number` of `span`: the first line from the start
/// column, inner lines from their first non-blank character, the last line up to the end
/// column. Carets are at least one wide, so empty spans and spans past the end of the
/// line still point somewhere.
fn mark_columns(span: Span, number: u32, raw: &str) -> Option<(usize, usize)> {
    let span = normalized(span);
    if !(span.start_line..=span.end_line).contains(&number) {
        return None;
    }
    let chars: Vec<char> = raw.chars().collect();
    let start = if number == span.start_line {
        char_index(span.start_column)
    } else {
        chars.iter().take_while(|c| c.is_whitespace()).count()
    };
    if number != span.start_line && start >= chars.len() {
        // A blank inner line of a multi-line span: nothing to underline.
        return None;
    }
    let end = if number == span.end_line {
        char_index(span.end_column)
    } else {
        chars.len()
    };
    let start = start.min(chars.len());
    let end = end.clamp(start, chars.len());
    let offset: usize = chars[..start].iter().map(|&c| char_width(c)).sum();
    let width: usize = chars[start..end].iter().map(|&c| char_width(c)).sum();
    Some((offset, width.max(1)))
}

/// Text safe to print on a terminal: tabs become spaces and control characters (a stray
/// `\r`, an escape) become U+FFFD, so source bytes cannot move the cursor or change
/// colors. Each replacement has the width [`char_width`] gives the original.
pub(super) fn terminal_text(raw: &str) -> String {
    let mut text = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '\t' => text.push_str(TAB),
            c if c.is_control() => text.push('\u{FFFD}'),
            c => text.push(c),
        }
    }
    text
}

fn char_width(c: char) -> usize {
    match c {
        '\t' => TAB.len(),
        c if c.is_control() => 1,
        c => c.width().unwrap_or(0),
    }
}

/// Keeps the head and tail of a long excerpt with an `...` row between them.
fn elide_middle(rows: Vec<Row>) -> Vec<Row> {
    if rows.len() <= MAX_LINES {
        return rows;
    }
    let head = MAX_LINES / 2 + 1;
    let tail = MAX_LINES - head - 1;
    let skip_to = rows.len() - tail;
    let mut out: Vec<Row> = Vec::with_capacity(MAX_LINES);
    let mut rows = rows.into_iter();
    out.extend(rows.by_ref().take(head));
    out.push(Row::Elided);
    out.extend(rows.skip(skip_to - head));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snippet(first_line: u32, text: &str) -> Snippet {
        Snippet {
            first_line,
            text: text.to_string(),
        }
    }

    fn span(sl: u32, sc: u32, el: u32, ec: u32) -> Span {
        Span {
            start_line: sl,
            start_column: sc,
            end_line: el,
            end_column: ec,
        }
    }

    fn marks(rows: &[Row]) -> Vec<Option<(usize, usize)>> {
        rows.iter()
            .map(|r| match r {
                Row::Source { mark, .. } => *mark,
                Row::Elided => None,
            })
            .collect()
    }

    #[test]
    fn marks_use_display_columns() {
        // "é" is one column, "模型" are two columns each, a tab is four.
        let s = snippet(1, "\tx = \"模型\" + é");
        let rows = excerpt(&s, Some(span(1, 6, 1, 10)));
        // chars: \t x ' ' = ' ' " 模 型 " ...; column 6 is the opening quote.
        assert_eq!(marks(&rows), vec![Some((8, 6))]);
    }

    #[test]
    fn spans_past_the_snippet_do_not_panic() {
        let s = snippet(10, "a = 1\nb = 2");
        assert!(excerpt(&s, Some(span(40, 1, 41, 3))).is_empty());
        let rows = excerpt(&s, Some(span(11, 50, 11, 90)));
        assert_eq!(marks(&rows), vec![None, Some((5, 1))]);
        let rows = excerpt(&s, Some(span(11, 0, 10, 0)));
        assert_eq!(rows.len(), 2);
        assert!(excerpt(&snippet(0, ""), Some(span(1, 1, 1, 1))).is_empty());
        assert!(patch(&s, span(11, 3, 12, 1), "x").is_none());
        let u = u32::MAX;
        let _ = excerpt(&snippet(u, "x\ny"), Some(span(u, u, u, u)));
        let _ = patch(&snippet(u, "x\ny"), span(u, u, u, 0), "z");
    }

    #[test]
    fn multi_line_spans_mark_every_line_from_its_indent() {
        let s = snippet(1, "def f(x):\n    y = x\n\n    return y\n");
        let rows = excerpt(&s, Some(span(1, 1, 4, 13)));
        assert_eq!(
            marks(&rows),
            vec![Some((0, 9)), Some((4, 5)), None, Some((4, 8))]
        );
    }

    #[test]
    fn long_excerpts_are_elided() {
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let rows = excerpt(&snippet(1, &text), Some(span(1, 1, 30, 3)));
        assert_eq!(rows.len(), MAX_LINES);
        assert!(rows.contains(&Row::Elided));
        assert!(matches!(rows.last(), Some(Row::Source { number: 30, .. })));
    }

    #[test]
    fn patch_splices_the_replacement_into_the_span() {
        let s = snippet(5, "state = torch.load(path)\n");
        let Patch { old, new } =
            patch(&s, span(5, 9, 5, 25), "torch.load(path, weights_only=True)")
                .expect("span is inside the snippet");
        assert_eq!(old, vec![(5, "state = torch.load(path)".to_string())]);
        assert_eq!(new, vec!["state = torch.load(path, weights_only=True)"]);
    }

    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(
            terminal_text("a\x1b[31mb\r\t"),
            "a\u{FFFD}[31mb\u{FFFD}    "
        );
    }
}
