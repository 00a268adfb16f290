//! `sarif`: SARIF 2.1.0 as GitHub code scanning accepts it.
//!
//! Built with `serde_json::json!` rather than a SARIF crate: mleng writes a small, fixed
//! subset, and keeping it visible here makes the schema constraints easy to check.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::{paths, RenderOptions};
use crate::{Finding, Location, RuleInfo, Severity, Span};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const INFORMATION_URI: &str = "https://github.com/mleng/mleng";
/// Versioned, so a change to what the fingerprint covers can get a new key instead of
/// silently re-opening every alert.
const FINGERPRINT_KEY: &str = "mlengFindingHash/v1";

pub(super) fn render(findings: &[Finding], options: &RenderOptions) -> String {
    let rules = unique_rules(options.rules);
    let index: HashMap<&str, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| (rule.code.as_str(), i))
        .collect();
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "mleng",
                    "version": options.tool_version,
                    "informationUri": INFORMATION_URI,
                    "rules": rules.iter().map(|rule| rule_descriptor(rule)).collect::<Vec<_>>(),
                }
            },
            // Our columns count characters, not SARIF's default UTF-16 code units.
            "columnKind": "unicodeCodePoints",
            "results": findings
                .iter()
                .map(|f| result(f, index.get(f.code.as_str()).copied()))
                .collect::<Vec<_>>(),
        }]
    });
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_default();
    out.push('\n');
    out
}

/// Rules with duplicate codes dropped (first wins): SARIF rule ids must be unique for
/// `ruleIndex` to mean anything.
fn unique_rules(rules: &[RuleInfo]) -> Vec<&RuleInfo> {
    let mut seen = std::collections::HashSet::new();
    rules
        .iter()
        .filter(|rule| seen.insert(rule.code.as_str()))
        .collect()
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "note",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

fn rule_descriptor(rule: &RuleInfo) -> Value {
    // GitHub shows `help` on the alert page; an empty text would be rejected as useless,
    // so fall back to the summary.
    let help = if rule.docs_markdown.trim().is_empty() {
        &rule.summary
    } else {
        &rule.docs_markdown
    };
    json!({
        "id": rule.code,
        "name": pascal_case(&rule.name),
        "shortDescription": { "text": rule.summary },
        "fullDescription": { "text": rule.summary },
        "help": { "text": help, "markdown": help },
        "defaultConfiguration": { "level": level(rule.default_severity) },
        "properties": { "tags": [rule.area.as_str()], "precision": "high" },
    })
}

fn result(finding: &Finding, rule_index: Option<usize>) -> Value {
    let location = &finding.location;
    // GitHub rejects results without message text, so an empty message falls back to
    // the rule's name.
    let message = [&finding.message, &finding.name, &finding.code]
        .into_iter()
        .find(|text| !text.trim().is_empty())
        .map_or("mleng finding", |text| text.as_str());
    let mut text = match location.cell {
        // Regions count lines within the cell, so the message says which cell.
        Some(cell) => format!("[cell {cell}] {message}"),
        None => message.to_string(),
    };
    if let Some(fix) = finding
        .fix
        .as_ref()
        .filter(|f| !f.message.trim().is_empty())
    {
        text.push_str("\nHelp: ");
        text.push_str(&fix.message);
    }

    let physical = physical_location(location);

    let mut result = Map::new();
    result.insert("ruleId".into(), json!(finding.code));
    if let Some(i) = rule_index {
        result.insert("ruleIndex".into(), json!(i));
    }
    result.insert("level".into(), json!(level(finding.severity)));
    result.insert("message".into(), json!({ "text": text }));
    result.insert(
        "locations".into(),
        json!([{ "physicalLocation": physical }]),
    );
    if !finding.related.is_empty() {
        let related: Vec<Value> = finding
            .related
            .iter()
            .enumerate()
            .map(|(id, r)| {
                let text = match r.location.cell {
                    Some(cell) => format!("[cell {cell}] {}", r.message),
                    None => r.message.clone(),
                };
                json!({
                    "id": id,
                    "physicalLocation": physical_location(&r.location),
                    "message": { "text": text },
                })
            })
            .collect();
        result.insert("relatedLocations".into(), Value::Array(related));
    }
    result.insert(
        "partialFingerprints".into(),
        json!({ FINGERPRINT_KEY: fingerprint(finding) }),
    );
    let mut properties = Map::new();
    properties.insert("area".into(), json!(finding.area.as_str()));
    if let Some(cell) = location.cell {
        properties.insert("cell".into(), json!(cell));
    }
    result.insert("properties".into(), Value::Object(properties));
    Value::Object(result)
}

/// A file (relative to `%SRCROOT%` when it can be) and the region in it.
fn physical_location(location: &Location) -> Value {
    let (uri, relative) = paths::uri(&location.path);
    let mut artifact = Map::new();
    artifact.insert("uri".into(), json!(uri));
    if relative {
        artifact.insert("uriBaseId".into(), json!("%SRCROOT%"));
    }
    let mut physical = Map::new();
    physical.insert("artifactLocation".into(), Value::Object(artifact));
    if let Some(span) = location.span {
        physical.insert("region".into(), region(span));
    }
    Value::Object(physical)
}

/// A region the schema accepts: lines and columns at least 1, the end not before the
/// start (a reversed span is swapped). Our columns are end-exclusive, as SARIF's are.
fn region(span: Span) -> Value {
    let start = (span.start_line.max(1), span.start_column.max(1));
    let end = (span.end_line.max(1), span.end_column.max(1));
    let ((start_line, start_column), (end_line, end_column)) = if end < start {
        (end, start)
    } else {
        (start, end)
    };
    json!({
        "startLine": start_line,
        "startColumn": start_column,
        "endLine": end_line,
        "endColumn": end_column,
    })
}

/// `missing-gradient-clipping` -> `MissingGradientClipping`.
fn pascal_case(kebab: &str) -> String {
    kebab
        .split(['-', '_', ' '])
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .into_iter()
                .flat_map(char::to_uppercase)
                .chain(chars)
        })
        .collect()
}

/// FNV-1a over code, path, cell and message, in hex. Not the line: a finding that moves
/// because code was added above it should stay the same alert. Hand-rolled because std's
/// hasher is not guaranteed stable across Rust releases, and fingerprints must be.
fn fingerprint(finding: &Finding) -> String {
    let cell = finding
        .location
        .cell
        .map_or(String::new(), |c| c.to_string());
    let path = paths::forward_slashes(&finding.location.path);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [finding.code.as_str(), &path, &cell, &finding.message] {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_pascal_case() {
        assert_eq!(
            pascal_case("missing-gradient-clipping"),
            "MissingGradientClipping"
        );
        assert_eq!(pascal_case("x--y"), "XY");
        assert_eq!(pascal_case(""), "");
    }

    #[test]
    fn regions_are_always_valid() {
        let region = region(Span {
            start_line: 0,
            start_column: 7,
            end_line: 0,
            end_column: 2,
        });
        assert_eq!(
            region,
            json!({"startLine": 1, "startColumn": 2, "endLine": 1, "endColumn": 7})
        );
    }
}
