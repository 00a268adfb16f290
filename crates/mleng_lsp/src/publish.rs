//! Diagnostics per open document from the latest findings, and publishing only what changed.

use lsp_types::{Diagnostic, Location, Uri};
use mleng_diagnostics::Finding;

use crate::convert::{self, EvidenceLine};
use crate::position::LineIndex;
use crate::state::{normalize, State};

/// The diagnostics every open document should show now: plain documents and each cell of
/// each open notebook (a finding in cell N goes to cell N's document).
pub fn all_diagnostics(state: &State, docs_url: &str) -> Vec<(Uri, Vec<Diagnostic>)> {
    let mut out = Vec::new();
    for (uri, doc, path) in state.python_documents() {
        let Some(reviewed) = state.reviewed.get(&path) else {
            continue;
        };
        let text = reviewed.text.as_deref().unwrap_or(&doc.text);
        let index = LineIndex::new(text);
        let diagnostics = reviewed
            .findings
            .iter()
            .map(|f| {
                convert::diagnostic(f, &index, docs_url, |e: EvidenceLine| {
                    (e.cell.is_none())
                        .then(|| Location::new(uri.clone(), convert::line_range(&index, e.line)))
                })
            })
            .collect();
        out.push((uri.clone(), diagnostics));
    }
    for (notebook_uri, notebook) in &state.docs.notebooks {
        let findings: &[Finding] = state
            .reviewed
            .get(&normalize(&notebook.path))
            .map_or(&[], |r| r.findings.as_slice());
        let cell_text = |number: u32| -> Option<(&Uri, &str)> {
            let uri = state.docs.cell_uri(notebook_uri, number)?;
            Some((uri, state.docs.texts.get(uri)?.text.as_str()))
        };
        for (i, cell) in notebook.cells.iter().enumerate() {
            let number = i as u32 + 1;
            let text = state
                .docs
                .texts
                .get(&cell.uri)
                .map_or("", |d| d.text.as_str());
            let index = LineIndex::new(text);
            // A finding about the whole notebook (it cannot be read) shows on the first cell.
            let here = findings
                .iter()
                .filter(|f| f.location.cell.unwrap_or(1) == number);
            let diagnostics = here
                .map(|f| {
                    convert::diagnostic(f, &index, docs_url, |e: EvidenceLine| {
                        let (uri, text) = cell_text(e.cell.unwrap_or(number))?;
                        let range = convert::line_range(&LineIndex::new(text), e.line);
                        Some(Location::new(uri.clone(), range))
                    })
                })
                .collect();
            out.push((cell.uri.clone(), diagnostics));
        }
    }
    out
}
