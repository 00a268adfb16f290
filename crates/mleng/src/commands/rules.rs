//! `mleng rules` and `mleng explain CODE`: both print from the rules' own declarations.

use std::process::ExitCode;

use anyhow::{bail, Result};
use mleng_rules::registry;

#[derive(clap::Args)]
pub struct RulesArgs {
    /// Output format: text (a table), markdown (the README table) or json.
    #[arg(long, default_value = "text")]
    pub format: String,
}

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// A rule code (`TRN001`) or name (`missing-gradient-clipping`).
    pub rule: String,
}

pub fn run_rules(args: RulesArgs) -> Result<ExitCode> {
    let rules = registry::all();
    match args.format.as_str() {
        "text" => {
            println!(
                "CODE    NAME                               AREA          SEVERITY FIX     DEFAULT"
            );
            for r in rules {
                println!(
                    "{:<7} {:<34} {:<13} {:<8} {:<7} {}",
                    r.code,
                    r.name,
                    r.area.as_str(),
                    r.severity.as_str(),
                    fix_label(r),
                    if registry::is_default_enabled(r) {
                        "on"
                    } else {
                        "off"
                    }
                );
            }
        }
        "markdown" => print!("{}", markdown_table()),
        "json" => {
            let infos: Vec<_> = rules
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "code": r.code, "name": r.name, "area": r.area, "severity": r.severity,
                        "fixable": r.fix.is_some(), "fix": r.fix, "default": registry::is_default_enabled(r),
                        "summary": r.summary, "docs": r.docs,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&infos)?);
        }
        other => {
            bail!("unknown format `{other}` for `mleng rules` (expected text, markdown or json)")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The README's rule table, generated from the registry (a test keeps the README in sync).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| Code | Name | Area | Severity | Fix | What it finds |\n|---|---|---|---|---|---|\n",
    );
    for r in registry::all() {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} | {} |\n",
            r.code,
            r.name,
            r.area.as_str(),
            r.severity.as_str(),
            fix_label(r),
            r.summary.replace('|', "\\|")
        ));
    }
    out
}

/// `safe` / `unsafe` (what `--fix` / `--unsafe-fixes` apply), or `no` for advice only.
fn fix_label(rule: &mleng_rules::Rule) -> &'static str {
    rule.fix.map_or("no", |a| a.as_str())
}

pub fn run_explain(args: ExplainArgs) -> Result<ExitCode> {
    let code = args.rule.trim();
    let Some(rule) = registry::find(code) else {
        // Codes of the other commands' checks: what they find, and where the details are.
        let other = mleng_runs::catalog::find(code)
            .map(|c| (c, "mleng diagnose", "docs/diagnose.md"))
            .or_else(|| {
                mleng_models::catalog::find(code).map(|c| (c, "mleng inspect", "docs/inspect.md"))
            });
        let Some(((code, name, what), command, docs)) = other else {
            bail!("unknown rule `{}` (see `mleng rules`)", args.rule);
        };
        println!("# {code} {name}");
        println!();
        println!("A `{command}` check.");
        println!();
        println!("{what}");
        println!();
        println!("Thresholds, their sources and examples: {docs} in the mleng repository.");
        return Ok(ExitCode::SUCCESS);
    };
    println!("# {} {}", rule.code, rule.name);
    println!();
    println!(
        "Area: {}. Default severity: {}. Fix: {}. Enabled by default: {}.",
        rule.area.as_str(),
        rule.severity.as_str(),
        fix_label(rule),
        if registry::is_default_enabled(rule) {
            "yes"
        } else {
            "no"
        }
    );
    println!();
    print!("{}", rule.docs);
    Ok(ExitCode::SUCCESS)
}
