//! Resources: the rule catalog (`mleng://rules`, JSON) and each rule's or check's
//! documentation (`mleng://rules/{code}`, Markdown), for clients that attach documentation
//! to a conversation instead of calling `explain_rule`.

use mleng_review::catalog;
use mleng_rules::registry;

pub const CATALOG_URI: &str = "mleng://rules";
pub const RULE_URI_TEMPLATE: &str = "mleng://rules/{code}";

/// (uri, name, description) of every resource.
pub fn list() -> Vec<(String, String, String)> {
    let mut out = vec![(
        CATALOG_URI.to_string(),
        "mleng rule catalog".to_string(),
        "Every rule and check: code, name, area, severity, fixable, summary (JSON)".to_string(),
    )];
    for r in registry::all() {
        out.push((
            format!("{CATALOG_URI}/{}", r.code),
            format!("{} {}", r.code, r.name),
            r.summary.to_string(),
        ));
    }
    for c in catalog::checks() {
        out.push((
            format!("{CATALOG_URI}/{}", c.code),
            format!("{} {}", c.code, c.name),
            c.summary.to_string(),
        ));
    }
    out
}

/// The text and MIME type of a resource; `None` for an unknown URI.
pub fn read(uri: &str) -> Option<(String, &'static str)> {
    if uri == CATALOG_URI {
        let rules: Vec<_> = registry::all()
            .iter()
            .copied()
            .map(catalog::rule_json)
            .collect();
        let checks: Vec<_> = catalog::checks().collect();
        let value = serde_json::json!({"rules": rules, "checks": checks});
        return Some((value.to_string(), "application/json"));
    }
    let code = uri.strip_prefix(CATALOG_URI)?.strip_prefix('/')?;
    catalog::explain(code).map(|text| (text, "text/markdown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_resource_reads() {
        let all = list();
        assert!(all.len() > 10);
        for (uri, _, _) in &all {
            assert!(read(uri).is_some(), "{uri}");
        }
        assert!(read("mleng://rules/NOPE1").is_none());
        assert!(read("file:///etc/passwd").is_none());
    }
}
