//! Code actions: each finding's fix (labelled safe or unsafe), "disable CODE for this line"
//! (`# noqa: CODE`), and "fix all safe fixes in file" (`source.fixAll.mleng`, computed by the
//! same `--fix` machinery as the CLI, so every fixed file still parses).

use std::collections::HashMap;

use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, Position, Range, TextEdit, Uri, WorkspaceEdit,
};
use mleng_diagnostics::{Applicability, Finding};

use crate::convert;
use crate::lookup::DocumentFindings;
use crate::position::LineIndex;

pub const FIX_ALL_KIND: &str = "source.fixAll.mleng";
pub const FIX_ALL_TITLE: &str = "mleng: Fix all safe fixes in file";

/// The quick fixes for the findings touching `range`.
pub fn quick_fixes(uri: &Uri, found: &DocumentFindings, range: Range) -> Vec<CodeActionOrCommand> {
    let index = LineIndex::new(found.text);
    let mut actions = Vec::new();
    for (finding, _) in found.touching(range) {
        if found.stale {
            break;
        }
        if let Some(action) = fix_action(uri, finding, &index) {
            actions.push(action);
        }
        if let Some(edit) = noqa_edit(&index, finding) {
            actions.push(CodeAction {
                title: format!("Disable {} for this line", finding.code),
                kind: Some(CodeActionKind::QUICKFIX),
                edit: Some(one_file(uri, vec![edit])),
                ..CodeAction::default()
            });
        }
    }
    actions
        .into_iter()
        .map(CodeActionOrCommand::CodeAction)
        .collect()
}

fn fix_action(uri: &Uri, finding: &Finding, index: &LineIndex) -> Option<CodeAction> {
    let fix = finding.fix.as_ref()?;
    if !fix.applies_at(Applicability::Unsafe) {
        return None;
    }
    let edits = convert::text_edits(index, &fix.edits)?;
    let safe = fix.applicability == Applicability::Safe;
    Some(CodeAction {
        title: format!(
            "{}: {} ({})",
            finding.code,
            fix.message,
            if safe {
                "safe fix"
            } else {
                "unsafe fix: review it"
            }
        ),
        kind: Some(CodeActionKind::QUICKFIX),
        edit: Some(one_file(uri, edits)),
        is_preferred: Some(safe),
        ..CodeAction::default()
    })
}

/// Whether the document has a safe fix to apply (then "fix all" is offered).
pub fn has_safe_fix(found: &DocumentFindings) -> bool {
    found.findings.iter().any(|f| {
        f.fix
            .as_ref()
            .is_some_and(|x| x.applies_at(Applicability::Safe))
    })
}

/// The "fix all" action without its edit: the client asks for it with `codeAction/resolve`
/// (computing it reviews the project again, too slow to do on every cursor move).
pub fn fix_all_unresolved(uri: &Uri) -> CodeAction {
    CodeAction {
        title: FIX_ALL_TITLE.to_string(),
        kind: Some(CodeActionKind::new(FIX_ALL_KIND)),
        data: Some(serde_json::json!({ "uri": uri.as_str() })),
        ..CodeAction::default()
    }
}

pub fn one_file(uri: &Uri, edits: Vec<TextEdit>) -> WorkspaceEdit {
    WorkspaceEdit {
        changes: Some(HashMap::from([(uri.clone(), edits)])),
        ..WorkspaceEdit::default()
    }
}

/// The edit that turns `old` into `new` by replacing only the part between their common
/// prefix and suffix (the cursor and the rest of the buffer stay put).
pub fn minimal_edit(old: &str, new: &str) -> Option<TextEdit> {
    if old == new {
        return None;
    }
    let prefix = old
        .char_indices()
        .zip(new.chars())
        .find(|((_, a), b)| a != b)
        .map_or(old.len().min(new.len()), |((i, _), _)| i);
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = old[prefix..]
        .chars()
        .rev()
        .zip(new[prefix..].chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .scan(0, |total, len| {
            *total += len;
            Some(*total)
        })
        .take_while(|total| *total <= max_suffix)
        .last()
        .unwrap_or(0);
    let index = LineIndex::new(old);
    let to_position = |offset: usize| -> Position {
        let before = &old[..offset];
        let line = before.matches('\n').count() as u32;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32;
        index.to_lsp(line + 1, column + 1)
    };
    Some(TextEdit {
        range: Range::new(to_position(prefix), to_position(old.len() - suffix)),
        new_text: new[prefix..new.len() - suffix].to_string(),
    })
}

/// `# noqa: CODE` at the end of the finding's first line, or CODE added to the line's
/// existing `# noqa: ...` / `# mleng: ignore[...]` list.
pub fn noqa_edit(index: &LineIndex, finding: &Finding) -> Option<TextEdit> {
    let line = finding.location.span?.start_line;
    let text = index.line_text(line)?.trim_end_matches('\r');
    let code = &finding.code;
    let (column, insert) = match existing_list_end(text) {
        Some(end) => (text[..end].chars().count(), format!(", {code}")),
        None => (text.chars().count(), format!("  # noqa: {code}")),
    };
    let at = index.to_lsp(line, column as u32 + 1);
    Some(TextEdit {
        range: Range::new(at, at),
        new_text: insert,
    })
}

/// The byte offset where a code goes in the line's existing suppression list.
fn existing_list_end(line: &str) -> Option<usize> {
    let hash = line.find('#')?;
    let lower = line.to_ascii_lowercase();
    if let Some(pos) = lower[hash..].find("noqa") {
        let after = hash + pos + 4;
        let rest = &line[after..];
        let colon = rest.len() - rest.trim_start().len();
        if !rest[colon..].starts_with(':') {
            return None; // a blanket `# noqa` already silences everything
        }
        let list_start = after + colon + 1;
        let list = &line[list_start..];
        let len = list
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, ',' | ' ' | '-' | '_')))
            .unwrap_or(list.len());
        return Some(list_start + list[..len].trim_end().len());
    }
    if let Some(pos) = lower[hash..].find("mleng: ignore[") {
        let start = hash + pos + "mleng: ignore[".len();
        return line[start..].find(']').map(|end| start + end);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use mleng_diagnostics::{Area, Location, Severity, Span};

    fn finding_on(line: u32) -> Finding {
        let mut location = Location::file("/p/a.py");
        location.span = Some(Span::point(line, 1));
        Finding::new("TRN001", "x", Severity::Info, Area::Training, location, "m")
    }

    fn apply(text: &str, edit: &TextEdit) -> String {
        let index = LineIndex::new(text);
        let (a, b) = (index.offset(edit.range.start), index.offset(edit.range.end));
        format!("{}{}{}", &text[..a], edit.new_text, &text[b..])
    }

    #[test]
    fn noqa_is_appended_or_added_to_the_list() {
        let cases = [
            ("opt.step()\n", "opt.step()  # noqa: TRN001\n"),
            (
                "opt.step()  # é note\n",
                "opt.step()  # é note  # noqa: TRN001\n",
            ),
            (
                "opt.step()  # noqa: ARC001\n",
                "opt.step()  # noqa: ARC001, TRN001\n",
            ),
            (
                "opt.step()  # noqa: ARC001, CV # why\n",
                "opt.step()  # noqa: ARC001, CV, TRN001 # why\n",
            ),
            (
                "s = 'é'  # mleng: ignore[CV001]\r\n",
                "s = 'é'  # mleng: ignore[CV001, TRN001]\r\n",
            ),
        ];
        for (before, after) in cases {
            let index = LineIndex::new(before);
            let edit = noqa_edit(&index, &finding_on(1)).unwrap();
            assert_eq!(apply(before, &edit), after, "{before:?}");
        }
    }

    #[test]
    fn minimal_edit_touches_only_the_difference() {
        let old = "a = 'é'\nclip()\nstep()\n";
        let new = "a = 'é'\nunscale()\nclip()\nstep()\n";
        let edit = minimal_edit(old, new).unwrap();
        assert_eq!(apply(old, &edit), new);
        assert!(edit.new_text.len() < 12, "{edit:?}");
        assert!(minimal_edit(old, old).is_none());
        let grown = minimal_edit("aa", "aaa").unwrap();
        assert_eq!(apply("aa", &grown), "aaa");
    }
}
