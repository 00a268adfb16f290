//! Every code mleng can report and its documentation, in one place for `mleng rules`,
//! `mleng explain` and the MCP server: the review rules (from their own declarations) and the
//! checks of `mleng diagnose` (RUN...) and `mleng inspect` (ONX/CKP...).

use mleng_rules::{registry, Rule};

/// `safe` / `unsafe` (what `--fix` / `--unsafe-fixes` apply), or `no` for advice only.
pub fn fix_label(rule: &Rule) -> &'static str {
    rule.fix.map_or("no", |a| a.as_str())
}

/// One rule as `mleng rules --format json` lists it.
pub fn rule_json(r: &Rule) -> serde_json::Value {
    serde_json::json!({
        "code": r.code, "name": r.name, "area": r.area, "severity": r.severity,
        "fixable": r.fix.is_some(), "fix": r.fix, "default": registry::is_default_enabled(r),
        "summary": r.summary, "docs": r.docs,
    })
}

/// A check of `mleng diagnose` or `mleng inspect`: it has a code but no rule declaration.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Check {
    pub code: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    /// The command that reports it.
    pub command: &'static str,
    /// Where its thresholds and sources are documented in the repository.
    pub docs: &'static str,
}

/// The checks of `mleng diagnose` then `mleng inspect`.
pub fn checks() -> impl Iterator<Item = Check> {
    let of = |checks: &'static [(&'static str, &'static str, &'static str)],
              command: &'static str,
              docs: &'static str| {
        checks.iter().map(move |&(code, name, summary)| Check {
            code,
            name,
            summary,
            command,
            docs,
        })
    };
    of(
        mleng_runs::catalog::CHECKS,
        "mleng diagnose",
        "docs/diagnose.md",
    )
    .chain(of(
        mleng_models::catalog::CHECKS,
        "mleng inspect",
        "docs/inspect.md",
    ))
}

fn find_check(code: &str) -> Option<Check> {
    checks().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// A rule's or check's full documentation (Markdown), for a code (`TRN001`, `RUN003`) or a
/// rule name (`missing-gradient-clipping`); `None` when nothing has that code.
pub fn explain(code: &str) -> Option<String> {
    let code = code.trim();
    let Some(rule) = registry::find(code) else {
        let c = find_check(code)?;
        return Some(format!(
            "# {} {}\n\nA `{}` check.\n\n{}\n\nThresholds, their sources and examples: {} in the mleng repository.\n",
            c.code, c.name, c.command, c.summary, c.docs
        ));
    };
    Some(format!(
        "# {} {}\n\nArea: {}. Default severity: {}. Fix: {}. Enabled by default: {}.\n\n{}",
        rule.code,
        rule.name,
        rule.area.as_str(),
        rule.severity.as_str(),
        fix_label(rule),
        if registry::is_default_enabled(rule) {
            "yes"
        } else {
            "no"
        },
        rule.docs
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_rules_checks_and_nothing_else() {
        let text = explain("TRN002").expect("a rule");
        assert!(
            text.starts_with("# TRN002 clip-grad-without-unscale\n"),
            "{text}"
        );
        let by_name = explain("clip-grad-without-unscale").expect("a rule name");
        assert_eq!(text, by_name);
        let check = checks().next().expect("diagnose has checks");
        assert!(explain(check.code).is_some_and(|t| t.contains("mleng diagnose")));
        assert!(explain("NOPE999").is_none());
    }
}
