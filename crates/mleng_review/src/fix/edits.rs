//! Applying edits to one text. Edits carry 1-based lines and character columns (the
//! coordinates findings use); here they become byte offsets, are checked, and spliced in.

use mleng_diagnostics::Edit;
#[cfg(test)]
use mleng_diagnostics::Span;

/// An edit resolved to byte offsets in one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ByteEdit {
    pub start: usize,
    pub end: usize,
    pub content: String,
}

/// Resolves `edits` in `text`; `None` when a span does not fit the text (the file changed
/// since it was reviewed): such a fix is not applied.
pub(crate) fn resolve(text: &str, edits: &[Edit]) -> Option<Vec<ByteEdit>> {
    let starts = line_starts(text);
    let crlf = text.contains("\r\n");
    edits
        .iter()
        .map(|edit| {
            let start = offset(text, &starts, edit.span.start_line, edit.span.start_column)?;
            let end = offset(text, &starts, edit.span.end_line, edit.span.end_column)?;
            if end < start {
                return None;
            }
            // Code inserted into a CRLF file keeps its line endings.
            let content = if crlf && !edit.content.contains("\r\n") {
                edit.content.replace('\n', "\r\n")
            } else {
                edit.content.clone()
            };
            Some(ByteEdit {
                start,
                end,
                content,
            })
        })
        .collect()
}

/// Whether two sets of edits touch the same bytes (two insertions at one point count: their
/// order would be arbitrary).
pub(crate) fn overlaps(a: &[ByteEdit], b: &[ByteEdit]) -> bool {
    a.iter().any(|x| {
        b.iter()
            .any(|y| (x.start < y.end && y.start < x.end) || x.start == y.start || x.end == y.end)
    })
}

/// Splices non-overlapping edits into `text`.
pub(crate) fn apply(text: &str, edits: &[ByteEdit]) -> String {
    let mut sorted: Vec<&ByteEdit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for edit in sorted {
        if edit.start < at {
            continue; // overlapping: callers never pass these
        }
        out.push_str(&text[at..edit.start]);
        out.push_str(&edit.content);
        at = edit.end;
    }
    out.push_str(&text[at..]);
    out
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The byte offset of a 1-based line and character column.
fn offset(text: &str, starts: &[usize], line: u32, column: u32) -> Option<usize> {
    let line_start = *starts.get(line.checked_sub(1)? as usize)?;
    let line_end = starts
        .get(line as usize)
        .map_or(text.len(), |next| next - 1);
    let line_text = text.get(line_start..line_end)?;
    let column = column.checked_sub(1)? as usize;
    if column == line_text.chars().count() {
        return Some(line_end);
    }
    line_text
        .char_indices()
        .nth(column)
        .map(|(i, _)| line_start + i)
}

/// A span's text, for tests and messages.
#[cfg(test)]
pub(crate) fn slice(text: &str, span: Span) -> Option<&str> {
    let starts = line_starts(text);
    let a = offset(text, &starts, span.start_line, span.start_column)?;
    let b = offset(text, &starts, span.end_line, span.end_column)?;
    text.get(a..b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(a: (u32, u32), b: (u32, u32)) -> Span {
        Span {
            start_line: a.0,
            start_column: a.1,
            end_line: b.0,
            end_column: b.1,
        }
    }

    #[test]
    fn columns_are_characters_not_bytes() {
        let text = "x = 'é'; torch.load(p)\n";
        let s = span((1, 10), (1, 23));
        assert_eq!(slice(text, s), Some("torch.load(p)"));
    }

    #[test]
    fn edits_apply_together_and_keep_crlf() {
        let text = "a = 1\r\nclip()\r\n";
        let edits = resolve(
            text,
            &[Edit::replace(span((2, 1), (2, 7)), "unscale()\nclip()")],
        )
        .unwrap();
        assert_eq!(apply(text, &edits), "a = 1\r\nunscale()\r\nclip()\r\n");
    }

    #[test]
    fn a_span_past_the_text_is_refused() {
        assert!(resolve("a\n", &[Edit::replace(span((3, 1), (3, 2)), "b")]).is_none());
        assert!(resolve("ab\n", &[Edit::replace(span((1, 9), (1, 9)), "b")]).is_none());
    }

    #[test]
    fn overlap_includes_two_insertions_at_one_point() {
        let e = |s, e| ByteEdit {
            start: s,
            end: e,
            content: String::new(),
        };
        assert!(overlaps(&[e(1, 4)], &[e(3, 5)]));
        assert!(overlaps(&[e(2, 2)], &[e(2, 2)]));
        assert!(!overlaps(&[e(1, 3)], &[e(3, 5)]));
    }
}
