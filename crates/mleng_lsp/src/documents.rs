//! The documents the client has open: plain text documents (`.py` files) and notebooks,
//! whose cells are text documents of their own (LSP 3.17 notebook document sync).

use std::collections::HashMap;
use std::path::PathBuf;

use lsp_types::{
    DidChangeNotebookDocumentParams, DidOpenNotebookDocumentParams, NotebookCellKind,
    TextDocumentContentChangeEvent, TextDocumentItem, Uri,
};
use serde_json::json;

use crate::position::LineIndex;
use crate::uri;

pub struct TextDocument {
    pub text: String,
    pub version: i32,
    /// The notebook this document is a cell of.
    pub notebook: Option<Uri>,
}

pub struct NotebookCell {
    pub uri: Uri,
    pub code: bool,
}

pub struct Notebook {
    pub path: PathBuf,
    pub version: i32,
    pub cells: Vec<NotebookCell>,
}

#[derive(Default)]
pub struct Documents {
    pub texts: HashMap<Uri, TextDocument>,
    pub notebooks: HashMap<Uri, Notebook>,
}

impl Documents {
    pub fn open(&mut self, item: TextDocumentItem) {
        self.texts.insert(
            item.uri,
            TextDocument {
                text: item.text,
                version: item.version,
                notebook: None,
            },
        );
    }

    /// Applies content changes in order (full or incremental). `false` when the document is
    /// not open (the client's mistake: nothing to apply them to).
    pub fn change(
        &mut self,
        uri: &Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) -> bool {
        let Some(doc) = self.texts.get_mut(uri) else {
            return false;
        };
        for change in changes {
            match change.range {
                None => doc.text = change.text,
                Some(range) => {
                    let index = LineIndex::new(&doc.text);
                    let start = index.offset(range.start);
                    let end = index.offset(range.end).max(start);
                    doc.text.replace_range(start..end, &change.text);
                }
            }
        }
        doc.version = version;
        true
    }

    pub fn close(&mut self, uri: &Uri) {
        self.texts.remove(uri);
    }

    /// The path a text document is reviewed as: its file, or its notebook's.
    pub fn review_path(&self, uri: &Uri) -> Option<PathBuf> {
        match self.texts.get(uri).and_then(|d| d.notebook.as_ref()) {
            Some(notebook) => self.notebooks.get(notebook).map(|n| n.path.clone()),
            None => uri::to_path(uri),
        }
    }

    pub fn open_notebook(&mut self, params: DidOpenNotebookDocumentParams) -> Option<PathBuf> {
        let notebook = params.notebook_document;
        let path = uri::to_path(&notebook.uri)?;
        for item in params.cell_text_documents {
            let uri = item.uri.clone();
            self.open(item);
            if let Some(doc) = self.texts.get_mut(&uri) {
                doc.notebook = Some(notebook.uri.clone());
            }
        }
        let cells = notebook
            .cells
            .into_iter()
            .map(|c| NotebookCell {
                uri: c.document,
                code: c.kind == NotebookCellKind::Code,
            })
            .collect();
        self.notebooks.insert(
            notebook.uri,
            Notebook {
                path: path.clone(),
                version: notebook.version,
                cells,
            },
        );
        Some(path)
    }

    /// Applies a notebook change: cell structure, cell kinds and cell texts, in that order
    /// (the order the protocol describes them in).
    pub fn change_notebook(&mut self, params: DidChangeNotebookDocumentParams) -> bool {
        let uri = params.notebook_document.uri;
        let Some(cells) = params.change.cells else {
            return self.notebooks.contains_key(&uri);
        };
        if let Some(structure) = cells.structure {
            for item in structure.did_open.unwrap_or_default() {
                let cell = item.uri.clone();
                self.open(item);
                if let Some(doc) = self.texts.get_mut(&cell) {
                    doc.notebook = Some(uri.clone());
                }
            }
            for closed in structure.did_close.unwrap_or_default() {
                self.close(&closed.uri);
            }
            let Some(notebook) = self.notebooks.get_mut(&uri) else {
                return false;
            };
            let array = structure.array;
            let start = (array.start as usize).min(notebook.cells.len());
            let end = (start + array.delete_count as usize).min(notebook.cells.len());
            let new = array
                .cells
                .unwrap_or_default()
                .into_iter()
                .map(|c| NotebookCell {
                    uri: c.document,
                    code: c.kind == NotebookCellKind::Code,
                });
            notebook.cells.splice(start..end, new);
        }
        if let Some(notebook) = self.notebooks.get_mut(&uri) {
            notebook.version = params.notebook_document.version;
            for data in cells.data.unwrap_or_default() {
                if let Some(cell) = notebook.cells.iter_mut().find(|c| c.uri == data.document) {
                    cell.code = data.kind == NotebookCellKind::Code;
                }
            }
        } else {
            return false;
        }
        for content in cells.text_content.unwrap_or_default() {
            let doc = content.document;
            self.change(&doc.uri, doc.version, content.changes);
        }
        true
    }

    pub fn close_notebook(&mut self, uri: &Uri) -> Option<Notebook> {
        let notebook = self.notebooks.remove(uri)?;
        for cell in &notebook.cells {
            self.close(&cell.uri);
        }
        Some(notebook)
    }

    /// The notebook as nbformat 4 JSON, with every cell in order (markdown cells too, so that
    /// cell numbers in findings are the client's cell indexes plus one).
    pub fn notebook_json(&self, notebook: &Notebook) -> String {
        let cells: Vec<serde_json::Value> = notebook
            .cells
            .iter()
            .map(|cell| {
                let source = self.texts.get(&cell.uri).map_or("", |d| d.text.as_str());
                if cell.code {
                    json!({"cell_type": "code", "execution_count": null, "metadata": {},
                           "outputs": [], "source": source})
                } else {
                    json!({"cell_type": "markdown", "metadata": {}, "source": source})
                }
            })
            .collect();
        json!({
            "cells": cells,
            "metadata": {"language_info": {"name": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        })
        .to_string()
    }

    /// The document of a notebook's 1-based cell `number`.
    pub fn cell_uri(&self, notebook: &Uri, number: u32) -> Option<&Uri> {
        let index = (number as usize).checked_sub(1)?;
        self.notebooks
            .get(notebook)?
            .cells
            .get(index)
            .map(|c| &c.uri)
    }

    /// The 1-based cell number of a cell document, and its notebook.
    pub fn cell_of(&self, cell: &Uri) -> Option<(&Uri, u32)> {
        let notebook = self.texts.get(cell)?.notebook.as_ref()?;
        let index = self
            .notebooks
            .get(notebook)?
            .cells
            .iter()
            .position(|c| &c.uri == cell)?;
        Some((notebook, index as u32 + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_types::{Position, Range};
    use std::str::FromStr;

    fn uri(s: &str) -> Uri {
        Uri::from_str(s).unwrap()
    }

    #[test]
    fn incremental_changes_use_utf16_positions() {
        let mut docs = Documents::default();
        let u = uri("file:///p/a.py");
        docs.open(TextDocumentItem::new(
            u.clone(),
            "python".into(),
            1,
            "s = '😀'\nx = 1\n".into(),
        ));
        let change = |range: Range, text: &str| TextDocumentContentChangeEvent {
            range: Some(range),
            range_length: None,
            text: text.into(),
        };
        // Replace the closing quote after the emoji (UTF-16 column 7 on line 0).
        let edits = vec![
            change(Range::new(Position::new(0, 7), Position::new(0, 8)), "'!"),
            change(Range::new(Position::new(1, 4), Position::new(1, 5)), "2"),
        ];
        assert!(docs.change(&u, 2, edits));
        assert_eq!(docs.texts[&u].text, "s = '😀'!\nx = 2\n");
        assert!(!docs.change(&uri("file:///p/b.py"), 1, Vec::new()));
    }
}
