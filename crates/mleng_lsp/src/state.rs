//! What the server knows between messages: open documents, workspace folders, the latest
//! findings per file and the diagnostics last published per document.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_types::{Diagnostic, Uri};
use mleng_diagnostics::Finding;
use mleng_review::Buffer;

use crate::documents::{Documents, TextDocument};
use crate::worker::Scope;

/// The latest findings of one file and the text they were computed on.
pub struct Reviewed {
    pub findings: Vec<Finding>,
    /// The buffer reviewed (`None`: the file on disk).
    pub text: Option<String>,
}

#[derive(Default)]
pub struct State {
    pub docs: Documents,
    pub folders: Vec<PathBuf>,
    pub reviewed: HashMap<PathBuf, Reviewed>,
    pub published: HashMap<Uri, Vec<Diagnostic>>,
    /// Scopes reviewed whole at least once.
    pub seen: std::collections::HashSet<Scope>,
}

/// Paths as the review reports them: no trailing separator, no `.` components.
pub fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

pub fn is_python(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "py" || e == "pyi")
}

impl State {
    /// The scope a file is reviewed in: the innermost workspace folder holding it, else the
    /// file alone.
    pub fn scope_of(&self, path: &Path) -> Scope {
        self.folders
            .iter()
            .filter(|f| path.starts_with(f))
            .max_by_key(|f| f.components().count())
            .map_or_else(
                || Scope::File(path.to_path_buf()),
                |f| Scope::Folder(f.clone()),
            )
    }

    /// Open Python files (not notebook cells): their URI, document and path.
    pub fn python_documents(&self) -> impl Iterator<Item = (&Uri, &TextDocument, PathBuf)> {
        self.docs.texts.iter().filter_map(|(uri, doc)| {
            let path = normalize(&crate::uri::to_path(uri)?);
            (doc.notebook.is_none() && is_python(&path)).then_some((uri, doc, path))
        })
    }

    /// Every open document in `scope`, as review buffers (notebooks as nbformat JSON).
    pub fn buffers(&self, scope: &Scope) -> Vec<Buffer> {
        let mut buffers = Vec::new();
        for (_, doc, path) in self.python_documents() {
            if &self.scope_of(&path) == scope {
                buffers.push(Buffer {
                    path,
                    text: doc.text.clone(),
                });
            }
        }
        for notebook in self.docs.notebooks.values() {
            let path = normalize(&notebook.path);
            if &self.scope_of(&path) == scope {
                buffers.push(Buffer {
                    path,
                    text: self.docs.notebook_json(notebook),
                });
            }
        }
        buffers.sort_by(|a, b| a.path.cmp(&b.path));
        buffers
    }

    /// Every scope with an open document.
    pub fn open_scopes(&self) -> Vec<Scope> {
        let mut paths: Vec<PathBuf> = self
            .python_documents()
            .map(|(_, _, path)| path)
            .chain(self.docs.notebooks.values().map(|n| normalize(&n.path)))
            .collect();
        paths.sort();
        let mut scopes: Vec<Scope> = paths.iter().map(|p| self.scope_of(p)).collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }
}
