//! `review` and `fix`: code and notebooks, through the shared `mleng_review::Reviewer`, so the
//! configuration (`mleng.toml`, `[tool.mleng]`), selection and findings are the CLI's.

use mleng_diagnostics::{count_fixable, render, Applicability, Format, RenderOptions, Severity};
use mleng_review::{Buffer, ReviewOptions, Reviewer};
use mleng_rules::registry;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::existing_paths;
use crate::error::ToolError;
use crate::paging::{page_array, Page};
use crate::roots::Roots;

/// What to review: files and folders, or a snippet of code with the file name it would have.
///
/// (No `deny_unknown_fields` here: serde does not combine it with `flatten`; the server
/// refuses unknown argument names for every tool against its schema instead.)
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct Target {
    /// Python files, notebooks or folders, relative to the workspace root or absolute inside
    /// it. Default: the whole workspace root (when no `code` is given).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Code to review instead of a file on disk (e.g. a training loop being written).
    pub code: Option<String>,
    /// The file name the `code` snippet has (`train.py`, `nb.ipynb`); it decides which
    /// configuration applies and need not exist. Default `snippet.py`.
    pub file_name: Option<String>,
    /// Rules to run instead of the configured ones: codes (`TRN002`), prefixes (`TRN`),
    /// names, or `ALL`.
    pub select: Option<Vec<String>>,
    /// Rules to skip (codes, prefixes or names).
    #[serde(default)]
    pub ignore: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReviewArgs {
    #[serde(flatten)]
    pub target: Target,
    /// First finding to return (for paging through many findings). Default 0.
    pub offset: Option<usize>,
    /// How many findings to return. Default 100, at most 1000.
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct FixArgs {
    #[serde(flatten)]
    pub target: Target,
    /// Write the fixed files to disk (only the safe fixes; never for a `code` snippet).
    /// Default false: only return the diff.
    #[serde(default)]
    pub write: bool,
}

/// The reviewer, the paths and the in-memory buffer of a target.
fn prepare(
    roots: &Roots,
    target: &Target,
) -> Result<(Reviewer, Vec<std::path::PathBuf>, Vec<Buffer>), ToolError> {
    let buffers = match &target.code {
        Some(code) => {
            let name = target.file_name.as_deref().unwrap_or("snippet.py");
            vec![Buffer {
                path: roots.new_file(name)?,
                text: code.clone(),
            }]
        }
        None if target.file_name.is_some() => {
            return Err(ToolError::invalid(
                "`file_name` names a `code` snippet: give `code` too, or use `paths`",
            ))
        }
        None => Vec::new(),
    };
    let paths = match (&buffers[..], target.paths.is_empty()) {
        ([buffer], true) => vec![buffer.path.clone()],
        _ => existing_paths(roots, &target.paths)?,
    };
    let options = ReviewOptions {
        select: target.select.clone(),
        ignore: target.ignore.clone(),
        ..ReviewOptions::default()
    };
    let reviewer = Reviewer::new(&paths[0], &options).map_err(ToolError::failed)?;
    Ok((reviewer, paths, buffers))
}

fn rendered_findings(
    findings: &[mleng_diagnostics::Finding],
    files: usize,
) -> Result<Value, ToolError> {
    let rules: Vec<_> = registry::all().iter().map(|r| r.info()).collect();
    let options = RenderOptions {
        rules: &rules,
        color: false,
        tool_version: env!("CARGO_PKG_VERSION"),
        files_reviewed: files,
    };
    // The same JSON as `mleng review --format json`, so agents and CI read one format.
    serde_json::from_str(&render(Format::Json, findings, &options)).map_err(ToolError::failed)
}

fn counts(findings: &[mleng_diagnostics::Finding]) -> Value {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    json!({
        "error": count(Severity::Error),
        "warning": count(Severity::Warning),
        "info": count(Severity::Info),
    })
}

pub fn review(roots: &Roots, args: &ReviewArgs) -> Result<Value, ToolError> {
    let (reviewer, paths, buffers) = prepare(roots, &args.target)?;
    let review = reviewer.review(&paths, &buffers, false);
    let mut value = json!({
        "files_reviewed": review.files_reviewed,
        "counts": counts(&review.findings),
        "config": reviewer.config_path,
        "findings": rendered_findings(&review.findings, review.files_reviewed)?,
    });
    let page = Page::new(args.offset, args.limit, crate::paging::DEFAULT_LIMIT);
    page_array(&mut value, "findings", page, "findings", "offset");
    Ok(value)
}

pub fn fix(roots: &Roots, args: &FixArgs) -> Result<Value, ToolError> {
    let (reviewer, paths, buffers) = prepare(roots, &args.target)?;
    if args.write && !buffers.is_empty() {
        return Err(ToolError::invalid(
            "`write` applies fixes to files: a `code` snippet has none (its fixed text is in `fixed_code`)",
        ));
    }
    let run = reviewer.fix(&paths, &buffers, Applicability::Safe, false);
    let unsafe_left = count_fixable(&run.review.findings, Applicability::Unsafe);
    let written: Vec<String> = if args.write {
        let errors = run.write(&[]);
        if let Some(first) = errors.first() {
            return Err(ToolError::Failed(format!(
                "could not write every fix ({} errors), first: {first}",
                errors.len()
            )));
        }
        run.files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect()
    } else {
        Vec::new()
    };
    let fixed_code = buffers
        .first()
        .and_then(|b| run.files.iter().find(|f| f.path == b.path))
        .map(|f| f.fixed.clone());
    let files: Vec<Value> = run
        .files
        .iter()
        .map(|f| json!({"path": f.path, "fixes": f.applied.len()}))
        .collect();
    let problems: Vec<Value> = run
        .problems
        .iter()
        .map(|p| json!({"path": p.path, "message": p.message}))
        .collect();
    Ok(json!({
        "fixes_applied": run.applied_count(),
        "files": files,
        "diff": run.diff(),
        "written": written,
        "fixed_code": fixed_code,
        "problems": problems,
        "remaining_findings": run.review.findings.len(),
        "unsafe_fixes_not_applied": unsafe_left,
        "note": if unsafe_left > 0 {
            Some(format!("{unsafe_left} more fixes change behaviour (unsafe); they are only offered by `mleng review --fix --unsafe-fixes`, for a person to review"))
        } else {
            None
        },
    }))
}
