//! The findings shown on one document (a file, or one notebook cell), for code actions and
//! hover.

use lsp_types::{Range, Uri};
use mleng_diagnostics::Finding;

use crate::convert;
use crate::position::LineIndex;
use crate::state::{normalize, State};

pub struct DocumentFindings<'a> {
    pub findings: Vec<&'a Finding>,
    /// The document's current text (the cell's, for a cell).
    pub text: &'a str,
    /// The document changed since these findings were computed: their positions may be off,
    /// so no edits are offered until the next review lands.
    pub stale: bool,
}

impl DocumentFindings<'_> {
    /// The findings whose range touches `range`, with that range.
    pub fn touching(&self, range: Range) -> Vec<(&Finding, Range)> {
        let index = LineIndex::new(self.text);
        self.findings
            .iter()
            .map(|f| (*f, convert::range(&index, f.location.span)))
            .filter(|(_, r)| r.start <= range.end && range.start <= r.end)
            .collect()
    }
}

pub fn document_findings<'a>(state: &'a State, uri: &Uri) -> Option<DocumentFindings<'a>> {
    let doc = state.docs.texts.get(uri)?;
    match state.docs.cell_of(uri) {
        Some((notebook_uri, number)) => {
            let notebook = state.docs.notebooks.get(notebook_uri)?;
            let reviewed = state.reviewed.get(&normalize(&notebook.path))?;
            let stale = reviewed
                .text
                .as_ref()
                .is_some_and(|t| *t != state.docs.notebook_json(notebook));
            Some(DocumentFindings {
                findings: reviewed
                    .findings
                    .iter()
                    .filter(|f| f.location.cell == Some(number))
                    .collect(),
                text: &doc.text,
                stale,
            })
        }
        None => {
            let path = normalize(&crate::uri::to_path(uri)?);
            let reviewed = state.reviewed.get(&path)?;
            Some(DocumentFindings {
                findings: reviewed.findings.iter().collect(),
                text: &doc.text,
                stale: reviewed.text.as_ref().is_some_and(|t| *t != doc.text),
            })
        }
    }
}
