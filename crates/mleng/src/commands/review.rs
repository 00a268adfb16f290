//! `mleng review [PATHS...]`: discover -> review in parallel -> render.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use mleng_diagnostics::{render, Area, Finding, Format, Location, RenderOptions, Severity};
use mleng_python::discover;
use mleng_rules::engine::expand_selector;
use mleng_rules::project::scorecard;
use mleng_rules::{registry, review_project, Settings};

use crate::config::{self, parse_severity};

#[derive(clap::Args)]
pub struct ReviewArgs {
    /// Files or folders to review (default: the current folder).
    pub paths: Vec<PathBuf>,
    /// Output format: text, concise, json, sarif, github, markdown.
    #[arg(long, default_value = "text")]
    pub format: String,
    /// Exit with 1 if any finding is at least this severe (info, warning, error).
    #[arg(long)]
    pub fail_on: Option<String>,
    /// Rules to run instead of the defaults (codes, prefixes or names; comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub select: Option<Vec<String>>,
    /// Rules to add to the selection.
    #[arg(long, value_delimiter = ',')]
    pub extend_select: Vec<String>,
    /// Rules to skip.
    #[arg(long, value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// Glob patterns of paths to skip (added to the configured ones).
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Configuration file to use instead of discovering mleng.toml / pyproject.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Also print a reproducibility scorecard for each training entry point (seeds,
    /// determinism, config, tracking, checkpoints, pinned dependencies).
    #[arg(long)]
    pub summary: bool,
    /// Never color the output (colors are on only when writing to a terminal).
    #[arg(long)]
    pub no_color: bool,
}

pub fn run(args: ReviewArgs) -> Result<ExitCode> {
    let format = Format::parse(&args.format).with_context(|| {
        format!(
            "unknown format `{}` (expected one of: {})",
            args.format,
            Format::NAMES.join(", ")
        )
    })?;
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let loaded = config::load(args.config.as_deref(), &paths[0])?;
    let cfg = &loaded.config;
    let origin = loaded
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "command line".into());

    let select = args.select.as_deref().or(cfg.select.as_deref());
    let mut extend = cfg.extend_select.clone();
    extend.extend(args.extend_select.iter().cloned());
    let mut ignore = cfg.ignore.clone();
    ignore.extend(args.ignore.iter().cloned());
    let mut settings = Settings::from_selection(select, &extend, &ignore)
        .with_context(|| format!("in the rule selection ({origin})"))?;
    for (code, severity) in &cfg.severity {
        let codes = expand_selector(code).with_context(|| format!("in [severity] ({origin})"))?;
        let severity = parse_severity(severity, &format!("severity of {code} ({origin})"))?;
        for code in codes {
            settings.severity_overrides.insert(code, severity);
        }
    }
    for (pattern, codes) in &cfg.per_file_ignores {
        let glob = discover::build_globset(std::slice::from_ref(pattern))?;
        let mut set = HashSet::new();
        for code in codes {
            set.extend(
                expand_selector(code)
                    .with_context(|| format!("in per-file-ignores for `{pattern}` ({origin})"))?,
            );
        }
        settings.per_file_ignores.push((glob, set));
    }
    let fail_on = match args.fail_on.as_deref().or(cfg.fail_on.as_deref()) {
        Some(text) => Some(parse_severity(text, "--fail-on")?),
        None => None,
    };
    let mut excludes = cfg.exclude.clone();
    excludes.extend(args.exclude.iter().cloned());
    let exclude = discover::build_globset(&excludes)?;

    let discovery = discover::discover(&paths, &exclude);
    let mut inputs = discovery.files.clone();
    inputs.extend(discovery.project_files.iter().cloned());
    let review = review_project(&inputs, &settings, args.summary);
    let outcomes = review.outcomes;
    let mut findings: Vec<Finding> = outcomes.into_iter().flat_map(|o| o.findings).collect();
    for (path, reason) in &discovery.errors {
        findings.push(Finding::new(
            "INP001",
            "unreadable-file",
            Severity::Error,
            Area::Input,
            Location::file(path.clone()),
            format!("{}: {reason}", path.display()),
        ));
    }
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));

    let rules: Vec<_> = registry::all().iter().map(|r| r.info()).collect();
    let color =
        !args.no_color && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let options = RenderOptions {
        rules: &rules,
        color,
        tool_version: env!("CARGO_PKG_VERSION"),
        files_reviewed: discovery.files.len(),
    };
    let output = render(format, &findings, &options);
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`mleng review | head`) is not an error worth a message.
    let _ = stdout.write_all(output.as_bytes());
    if let Some(facts) = review.facts.as_ref().filter(|_| args.summary) {
        let text = scorecard::render_text(&scorecard::scorecards(facts, &findings));
        // Machine-readable formats stay parseable: the scorecard goes to stderr there.
        if matches!(args.format.as_str(), "text" | "concise" | "markdown") {
            let _ = stdout.write_all(text.as_bytes());
        } else {
            eprint!("{text}");
        }
    }
    let _ = stdout.flush();

    // Paths that do not exist are usage errors; findings never are.
    if discovery
        .errors
        .iter()
        .any(|(_, reason)| reason == "no such file or directory")
    {
        return Ok(ExitCode::from(2));
    }
    if let Some(threshold) = fail_on {
        if findings.iter().any(|f| f.severity >= threshold) {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}
