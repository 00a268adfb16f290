//! "Fix all safe fixes in file": the CLI's `--fix` over the file's project, in memory, with
//! the open buffers. It reviews the project once per pass, so it runs on a thread of its own
//! (the main loop keeps answering, and the request can be cancelled meanwhile); the result is
//! one minimal edit for the document, or one per changed cell of a notebook.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use lsp_types::{CodeAction, TextEdit, Uri, WorkspaceEdit};
use mleng_diagnostics::Applicability;
use mleng_review::{Buffer, Reviewer};
use serde_json::Value;

use crate::actions;
use crate::reviewers::Reviewers;
use crate::state::{normalize, State};

/// Everything the fix needs, copied out of the server's state.
pub struct FixAllJob {
    reviewer: Arc<Reviewer>,
    root: PathBuf,
    buffers: Vec<Buffer>,
    path: PathBuf,
    target: Target,
}

/// The documents the edit goes to, with their texts now.
enum Target {
    Text { uri: Uri, current: String },
    Notebook { cells: Vec<(Uri, String)> },
}

/// The document an unresolved "fix all" action is for (its `data`).
pub fn action_uri(action: &CodeAction) -> Option<Uri> {
    let text = action.data.as_ref()?.get("uri")?.as_str()?;
    Uri::from_str(text).ok()
}

impl FixAllJob {
    pub fn new(state: &State, reviewers: &Reviewers, uri: &Uri) -> Option<FixAllJob> {
        let path = normalize(&state.docs.review_path(uri)?);
        let scope = state.scope_of(&path);
        let buffers = state.buffers(&scope);
        let target = match state.docs.cell_of(uri) {
            Some((notebook, _)) => Target::Notebook {
                cells: state
                    .docs
                    .notebooks
                    .get(notebook)?
                    .cells
                    .iter()
                    .map(|c| {
                        let text = state.docs.texts.get(&c.uri).map(|d| d.text.clone());
                        (c.uri.clone(), text.unwrap_or_default())
                    })
                    .collect(),
            },
            None => Target::Text {
                uri: uri.clone(),
                current: buffers
                    .iter()
                    .find(|b| b.path == path)
                    .map(|b| b.text.clone())?,
            },
        };
        Some(FixAllJob {
            reviewer: reviewers.get(scope.root()).0,
            root: scope.root().clone(),
            buffers,
            path,
            target,
        })
    }

    /// The edit (`None`: nothing to fix, or the fixes would not parse).
    pub fn run(self) -> Option<WorkspaceEdit> {
        let run = self.reviewer.fix(
            std::slice::from_ref(&self.root),
            &self.buffers,
            Applicability::Safe,
            false,
        );
        let fixed = &run
            .files
            .iter()
            .find(|f| normalize(&f.path) == self.path)?
            .fixed;
        let edits: Vec<(Uri, TextEdit)> = match self.target {
            Target::Text { uri, current } => {
                vec![(uri, actions::minimal_edit(&current, fixed)?)]
            }
            Target::Notebook { cells } => {
                let sources = cell_sources(fixed);
                cells
                    .into_iter()
                    .zip(sources)
                    .filter_map(|((uri, current), source)| {
                        Some((uri, actions::minimal_edit(&current, &source?)?))
                    })
                    .collect()
            }
        };
        // `Uri` caches parsed parts in a cell, but hashes and compares its text only.
        #[allow(clippy::mutable_key_type)]
        let changes: HashMap<Uri, Vec<TextEdit>> = edits
            .into_iter()
            .map(|(uri, edit)| (uri, vec![edit]))
            .collect();
        Some(WorkspaceEdit {
            changes: Some(changes),
            ..WorkspaceEdit::default()
        })
    }
}

/// Each cell's source in a notebook's JSON, in order (`None` for a cell without one).
fn cell_sources(json: &str) -> Vec<Option<String>> {
    let notebook: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    let cells = notebook.get("cells").and_then(Value::as_array);
    cells
        .map(|cells| {
            cells
                .iter()
                .map(|cell| match cell.get("source") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Array(lines)) => {
                        Some(lines.iter().filter_map(Value::as_str).collect())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_sources_read_strings_and_line_lists() {
        let json = r#"{"cells": [{"source": "a\nb"}, {"source": ["c\n", "d"]}, {}]}"#;
        assert_eq!(
            cell_sources(json),
            vec![Some("a\nb".into()), Some("c\nd".into()), None]
        );
        assert!(cell_sources("not json").is_empty());
    }
}
