//! Small shared checks on the statement layout of `forward`, for rules that follow data
//! from one layer to the next.

use ruff_text_size::TextRange;

use crate::context::Context;

/// Whether the statement at `later` runs whenever the one at `earlier` does, judged from the
/// layout: both start at the same indentation and no line between them is dedented below it
/// (which would mean `earlier` sits in an `if`/`else` branch, or `later` in another one).
/// A consumer nested in an `if` (conditional BatchNorm) has a deeper indentation and fails.
pub(crate) fn same_block(ctx: &Context, earlier: TextRange, later: TextRange) -> bool {
    let source = ctx.index.source;
    let first = source.lines.line_of(earlier.start());
    let last = source.lines.line_of(later.start());
    if first == last {
        return true;
    }
    if first > last {
        return false;
    }
    let indent = |line: u32| -> Option<usize> {
        let text = source.lines.line_text(&source.text, line);
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return None; // blank lines and comments do not open or close blocks
        }
        Some(text.len() - trimmed.len())
    };
    let Some(base) = indent(first) else {
        return false;
    };
    if indent(last) != Some(base) {
        return false;
    }
    (first + 1..last).all(|line| indent(line).is_none_or(|i| i >= base))
}
