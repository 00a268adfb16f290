//! `list_rules` and `explain_rule`: the rule catalog and each rule's documentation, from the
//! rules' own declarations (`mleng_review::catalog`, as `mleng rules` and `mleng explain`).

use mleng_review::catalog;
use mleng_rules::registry;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ToolError;
use crate::paging::{page_array, Page};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRulesArgs {
    /// Only rules of this area (`training`, `architecture`, `cv`, `experiment`, `performance`,
    /// `security`, `input`) or whose code starts with this prefix (`TRN`).
    pub area: Option<String>,
    /// First rule to return. Default 0.
    pub offset: Option<usize>,
    /// How many rules to return. Default 200, at most 1000.
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainArgs {
    /// A rule code (`TRN002`), a rule name (`clip-grad-without-unscale`), or the code of a
    /// `diagnose_run` or `inspect_model` finding (`RUN001`, `ONX003`, `CKP002`).
    pub code: String,
}

/// The rules' summaries (their documentation is `explain_rule`'s, to keep this list short),
/// then the checks of `diagnose_run` and `inspect_model`.
pub fn list_rules(args: &ListRulesArgs) -> Result<Value, ToolError> {
    let filter = args.area.as_deref().map(str::to_ascii_lowercase);
    let keep = |code: &str, area: &str| {
        filter
            .as_deref()
            .is_none_or(|f| area == f || code.to_ascii_lowercase().starts_with(f))
    };
    let rules: Vec<Value> = registry::all()
        .iter()
        .copied()
        .filter(|r| keep(r.code, r.area.as_str()))
        .map(|r| {
            let mut value = catalog::rule_json(r);
            if let Some(object) = value.as_object_mut() {
                object.remove("docs");
            }
            value
        })
        .collect();
    let checks: Vec<Value> = catalog::checks()
        .filter(|c| filter.is_none() || keep(c.code, ""))
        .map(|c| json!(c))
        .collect();
    if rules.is_empty() && checks.is_empty() {
        return Err(ToolError::invalid(format!(
            "no rule has the area or code prefix `{}`",
            args.area.as_deref().unwrap_or_default()
        )));
    }
    let mut value = json!({
        "rules": rules,
        "checks": checks,
        "note": "`explain_rule` gives a rule's full documentation: what it finds, why, an example and the fix",
    });
    let page = Page::new(args.offset, args.limit, 200);
    page_array(&mut value, "rules", page, "rules", "offset");
    Ok(value)
}

pub fn explain_rule(args: &ExplainArgs) -> Result<Value, ToolError> {
    let text = catalog::explain(&args.code).ok_or_else(|| {
        ToolError::invalid(format!(
            "unknown rule `{}`: call `list_rules` for the codes",
            args.code.trim()
        ))
    })?;
    Ok(json!({ "code": args.code.trim(), "markdown": text }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_rules_and_areas_are_argument_errors() {
        let err = explain_rule(&ExplainArgs {
            code: "XYZ999".into(),
        })
        .expect_err("unknown");
        assert!(err.to_string().contains("unknown rule `XYZ999`"), "{err}");
        let err = list_rules(&ListRulesArgs {
            area: Some("nope".into()),
            offset: None,
            limit: None,
        })
        .expect_err("no such area");
        assert!(matches!(err, ToolError::InvalidArgument(_)));
    }

    #[test]
    fn rules_filter_by_area_or_prefix() {
        let value = list_rules(&ListRulesArgs {
            area: Some("TRN".into()),
            offset: None,
            limit: None,
        })
        .expect("training rules");
        let rules = value["rules"].as_array().expect("rules");
        assert!(!rules.is_empty());
        assert!(rules
            .iter()
            .all(|r| r["code"].as_str().is_some_and(|c| c.starts_with("TRN"))));
        assert!(rules[0].get("docs").is_none());
        let text = explain_rule(&ExplainArgs {
            code: " TRN002 ".into(),
        })
        .expect("a rule");
        assert!(text["markdown"]
            .as_str()
            .is_some_and(|t| t.starts_with("# TRN002")));
    }
}
