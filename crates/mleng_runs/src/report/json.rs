//! JSON report: every diagnosis in full, plus the shared `Finding` list so tools that
//! consume `mleng review --format json` can read this too. Non-finite floats become null.

use serde::Serialize;

use mleng_diagnostics::Finding;

use crate::diagnosis::Diagnosis;

#[derive(Serialize)]
struct Report<'a> {
    version: u32,
    runs: &'a [Diagnosis],
    findings: Vec<Finding>,
}

pub fn render(diagnoses: &[Diagnosis]) -> Result<String, serde_json::Error> {
    let report = Report {
        version: 1,
        runs: diagnoses,
        findings: diagnoses.iter().flat_map(Diagnosis::findings).collect(),
    };
    serde_json::to_string_pretty(&report)
}
