//! Findings as LSP diagnostics and fix edits as LSP text edits.

use std::str::FromStr;

use lsp_types::{
    CodeDescription, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location,
    NumberOrString, Range, TextEdit, Uri,
};
use mleng_diagnostics::{Edit, Finding, Severity, Span};

use crate::position::LineIndex;

/// Where a rule's documentation lives: `{code}` is replaced by the rule code. A client may
/// set another pattern with the `docsUrl` initialization option.
pub const DEFAULT_DOCS_URL: &str =
    "https://github.com/mleng-dev/mleng/blob/main/docs/rules.md#{code}";

pub const SOURCE: &str = "mleng";

pub fn severity(severity: Severity) -> DiagnosticSeverity {
    match severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Info => DiagnosticSeverity::INFORMATION,
    }
}

/// A span's range; a finding without a span (a file that cannot be read) marks the start of
/// the file.
pub fn range(index: &LineIndex, span: Option<Span>) -> Range {
    match span {
        Some(s) => Range::new(
            index.to_lsp(s.start_line, s.start_column),
            index.to_lsp(s.end_line, s.end_column),
        ),
        None => Range::default(),
    }
}

pub fn docs_href(pattern: &str, code: &str) -> Option<Uri> {
    Uri::from_str(&pattern.replace("{code}", &code.to_ascii_lowercase())).ok()
}

/// A line another part of the finding refers to: "... at line 16", "... at cell 3, line 1".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvidenceLine {
    pub cell: Option<u32>,
    pub line: u32,
}

/// The line an evidence entry names in the same file, if it names exactly one. Evidence that
/// names another file (`in data.py line 3`) is left as text: the file cannot be told reliably.
pub fn evidence_line(evidence: &str) -> Option<EvidenceLine> {
    let number_after = |marker: &str| -> Option<u32> {
        let at = evidence.find(marker)? + marker.len();
        let digits: String = evidence[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    if evidence.matches("line ").count() != 1 || evidence.contains(".py") {
        return None;
    }
    let line = number_after("line ")?;
    Some(EvidenceLine {
        cell: number_after("cell "),
        line,
    })
}

/// The diagnostic of one finding. `index` is the text the finding's span counts in (the
/// document, or the notebook cell); `locate` turns an evidence line into a location (for a
/// notebook, on the named cell's document) and returns `None` when it cannot.
pub fn diagnostic(
    finding: &Finding,
    index: &LineIndex,
    docs_url: &str,
    locate: impl Fn(EvidenceLine) -> Option<Location>,
) -> Diagnostic {
    let mut message = finding.message.clone();
    let mut related = Vec::new();
    for evidence in &finding.evidence {
        match evidence_line(evidence).and_then(&locate) {
            Some(location) => related.push(DiagnosticRelatedInformation {
                location,
                message: evidence.clone(),
            }),
            None => {
                message.push_str("\nevidence: ");
                message.push_str(evidence);
            }
        }
    }
    if let Some(fix) = &finding.fix {
        message.push_str("\nhelp: ");
        message.push_str(&fix.message);
    }
    Diagnostic {
        range: range(index, finding.location.span),
        severity: Some(severity(finding.severity)),
        code: Some(NumberOrString::String(finding.code.clone())),
        code_description: docs_href(docs_url, &finding.code).map(|href| CodeDescription { href }),
        source: Some(SOURCE.to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}

/// A whole line as a range (for related information).
pub fn line_range(index: &LineIndex, line: u32) -> Range {
    let start = index.to_lsp(line, 1);
    let len = index
        .line_text(line)
        .map_or(0, |t| t.trim_end_matches('\r').chars().count() as u32);
    Range::new(start, index.to_lsp(line, len + 1))
}

/// A fix's edits in LSP form. Edits whose span is past the text (it changed since the
/// review) make the whole fix unusable: `None`.
pub fn text_edits(index: &LineIndex, edits: &[Edit]) -> Option<Vec<TextEdit>> {
    let lines = index.line_count();
    edits
        .iter()
        .map(|edit| {
            let s = edit.span;
            (s.start_line <= lines && s.end_line <= lines).then(|| TextEdit {
                range: range(index, Some(s)),
                new_text: edit.content.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_types::Position;
    use mleng_diagnostics::{Area, Fix, Location as FindingLocation};

    fn finding(span: Span) -> Finding {
        let mut location = FindingLocation::file("/p/train.py");
        location.span = Some(span);
        Finding::new(
            "TRN002",
            "clip-grad-without-unscale",
            Severity::Error,
            Area::Training,
            location,
            "clips scaled gradients",
        )
    }

    #[test]
    fn a_finding_maps_to_a_diagnostic_with_code_docs_and_source() {
        let text = "x = 'é'\nclip(p)\n";
        let index = LineIndex::new(text);
        let span = Span {
            start_line: 2,
            start_column: 1,
            end_line: 2,
            end_column: 8,
        };
        let f = finding(span)
            .with_evidence("scaler created at line 1")
            .with_evidence("loss scale 65536")
            .with_fix(Fix::new("unscale first"));
        let uri = Uri::from_str("file:///p/train.py").unwrap();
        let d = diagnostic(&f, &index, DEFAULT_DOCS_URL, |e| {
            Some(Location::new(uri.clone(), line_range(&index, e.line)))
        });
        assert_eq!(d.severity, Some(DiagnosticSeverity::ERROR));
        assert_eq!(d.code, Some(NumberOrString::String("TRN002".into())));
        assert_eq!(d.source.as_deref(), Some("mleng"));
        assert_eq!(
            d.range,
            Range::new(Position::new(1, 0), Position::new(1, 7))
        );
        assert!(d
            .code_description
            .unwrap()
            .href
            .as_str()
            .ends_with("#trn002"));
        let related = d.related_information.unwrap();
        assert_eq!(related.len(), 1);
        assert_eq!(
            related[0].location.range,
            Range::new(Position::new(0, 0), Position::new(0, 7))
        );
        assert!(d.message.contains("evidence: loss scale 65536"));
        assert!(d.message.contains("help: unscale first"));
    }

    #[test]
    fn severities_map_one_to_one() {
        assert_eq!(severity(Severity::Warning), DiagnosticSeverity::WARNING);
        assert_eq!(severity(Severity::Info), DiagnosticSeverity::INFORMATION);
    }

    #[test]
    fn evidence_lines_are_read_only_when_unambiguous() {
        assert_eq!(
            evidence_line("pretrained weights loaded at cell 3, line 1"),
            Some(EvidenceLine {
                cell: Some(3),
                line: 1
            })
        );
        assert_eq!(
            evidence_line("Dropout applied at line 16: `self.drop(x)`").map(|e| e.line),
            Some(16)
        );
        assert_eq!(evidence_line("defined in data.py line 3"), None);
        assert_eq!(evidence_line("from line 3 to line 9"), None);
        assert_eq!(evidence_line("loss scale 65536"), None);
    }

    #[test]
    fn edits_convert_with_utf16_columns_and_refuse_stale_spans() {
        let text = "w = '😀'; torch.load(p)\n";
        let index = LineIndex::new(text);
        let edit = Edit::replace(
            Span {
                start_line: 1,
                start_column: 21,
                end_line: 1,
                end_column: 22,
            },
            "p, weights_only=True",
        );
        let edits = text_edits(&index, std::slice::from_ref(&edit)).unwrap();
        assert_eq!(edits[0].range.start, Position::new(0, 21));
        let mut stale = edit.clone();
        stale.span.start_line = 5;
        assert!(text_edits(&index, &[stale]).is_none());
    }
}
