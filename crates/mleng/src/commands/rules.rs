//! `mleng rules` and `mleng explain CODE`: both print from the rules' own declarations.

use std::process::ExitCode;

use anyhow::{bail, Result};
use mleng_review::catalog::{self, fix_label};
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
            let mut out = String::from(
                "CODE    NAME                               AREA          SEVERITY FIX     DEFAULT\n",
            );
            for r in rules {
                out.push_str(&format!(
                    "{:<7} {:<34} {:<13} {:<8} {:<7} {}\n",
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
                ));
            }
            super::write_stdout(&out)?;
        }
        "markdown" => super::write_stdout(&markdown_table())?,
        "json" => {
            let infos: Vec<_> = rules.iter().copied().map(catalog::rule_json).collect();
            super::write_stdout(&format!("{}\n", serde_json::to_string_pretty(&infos)?))?;
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

pub fn run_explain(args: ExplainArgs) -> Result<ExitCode> {
    let Some(text) = catalog::explain(&args.rule) else {
        bail!("unknown rule `{}` (see `mleng rules`)", args.rule);
    };
    super::write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
