//! `mleng review [PATHS...]`: the shared review (crate `mleng_review`) -> optional fixes,
//! changed-lines and baseline filters -> render.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use mleng_diagnostics::{render, Applicability, Finding, Format, RenderOptions};
use mleng_review::baseline::Baseline;
use mleng_review::changed::ChangedLines;
use mleng_review::{Buffer, ReviewOptions, Reviewer};
use mleng_rules::project::scorecard;
use mleng_rules::registry;

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
    /// Apply the safe fixes to the files (each fixed file must still parse), then report
    /// what is left.
    #[arg(long)]
    pub fix: bool,
    /// With --fix or --diff: also apply the unsafe fixes (they change behaviour: review them).
    #[arg(long)]
    pub unsafe_fixes: bool,
    /// Print the fixes as a unified diff instead of writing them; exit 1 if there is any.
    #[arg(long)]
    pub diff: bool,
    /// Report only findings on lines changed since the merge base with this git reference
    /// (e.g. origin/main); the project is still reviewed whole.
    #[arg(long, value_name = "REF")]
    pub diff_base: Option<String>,
    /// Read the code from stdin and review it as this file (for editors and hooks).
    #[arg(long, value_name = "PATH")]
    pub stdin_filename: Option<PathBuf>,
    /// Record today's findings in this file and exit 0 (adopt mleng on an existing project).
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Report only findings that are not recorded in this baseline file.
    #[arg(long, value_name = "FILE", conflicts_with = "write_baseline")]
    pub baseline: Option<PathBuf>,
}

pub fn run(args: ReviewArgs) -> Result<ExitCode> {
    let format = Format::parse(&args.format).with_context(|| {
        format!(
            "unknown format `{}` (expected one of: {})",
            args.format,
            Format::NAMES.join(", ")
        )
    })?;
    if args.unsafe_fixes && !args.fix && !args.diff {
        bail!("--unsafe-fixes applies fixes only together with --fix (or shows them with --diff)");
    }
    let buffers = match &args.stdin_filename {
        Some(path) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the code from stdin (it must be UTF-8)")?;
            vec![Buffer {
                path: path.clone(),
                text,
            }]
        }
        None => Vec::new(),
    };
    let paths = if !args.paths.is_empty() {
        args.paths.clone()
    } else if let Some(path) = &args.stdin_filename {
        vec![path.clone()]
    } else {
        vec![PathBuf::from(".")]
    };
    let options = ReviewOptions {
        config: args.config.clone(),
        select: args.select.clone(),
        extend_select: args.extend_select.clone(),
        ignore: args.ignore.clone(),
        exclude: args.exclude.clone(),
        fail_on: args.fail_on.clone(),
    };
    let mut reviewer = Reviewer::new(&paths[0], &options)?;
    // Resolve the changed lines before reviewing: a bad reference is a usage error.
    let changed = match &args.diff_base {
        Some(base) => Some(ChangedLines::from_git(&paths[0], base)?),
        None => None,
    };

    let progress = std::io::stderr().is_terminal().then(|| {
        let counter = std::sync::Arc::new(mleng_rules::engine::Progress::default());
        reviewer.settings.progress = Some(counter.clone());
        crate::progress::ProgressLine::start(counter)
    });
    let fixing = args.fix || args.diff;
    let (review, fixed) = if fixing {
        let threshold = if args.unsafe_fixes {
            Applicability::Unsafe
        } else {
            Applicability::Safe
        };
        let mut run = reviewer.fix(&paths, &buffers, threshold, args.summary);
        (std::mem::take(&mut run.review), Some(run))
    } else {
        (reviewer.review(&paths, &buffers, args.summary), None)
    };
    if let Some(line) = progress {
        line.finish();
    }

    if let Some(run) = &fixed {
        for problem in &run.problems {
            eprintln!(
                "mleng: warning: {}: {}",
                problem.path.display(),
                problem.message
            );
        }
        if args.diff {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(run.diff().as_bytes());
            let _ = stdout.flush();
            eprintln!(
                "{}",
                fix_summary(run, &review.findings, args.unsafe_fixes, false)
            );
            return Ok(if run.files.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        let stdin_path: Vec<PathBuf> = args.stdin_filename.iter().cloned().collect();
        for err in run.write(&stdin_path) {
            eprintln!("mleng: error: {err}");
        }
        if let Some(path) = &args.stdin_filename {
            // Fixing stdin prints the fixed code; the findings go to stderr.
            let text = run
                .files
                .iter()
                .find(|f| &f.path == path)
                .map_or_else(|| buffers[0].text.clone(), |f| f.fixed.clone());
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
        }
        eprintln!(
            "{}",
            fix_summary(run, &review.findings, args.unsafe_fixes, true)
        );
    }

    let mut findings = review.findings;
    if let Some(path) = &args.write_baseline {
        let baseline = Baseline::from_findings(&findings, path);
        baseline.write(path)?;
        eprintln!(
            "mleng: recorded {} findings in {}; review with --baseline {} to see only new ones",
            findings.len(),
            path.display(),
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = &args.baseline {
        findings = Baseline::read(path)?.new_findings(findings, path);
    }
    if let Some(changed) = &changed {
        let project_codes: Vec<&str> = registry::project_rules()
            .iter()
            .map(|p| p.rule.code)
            .collect();
        findings.retain(|f| changed.contains(f, project_codes.contains(&f.code.as_str())));
    }

    let rules: Vec<_> = registry::all().iter().map(|r| r.info()).collect();
    let to_stdout = !(fixing && args.stdin_filename.is_some());
    let terminal = if to_stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    };
    let color = !args.no_color && terminal && std::env::var_os("NO_COLOR").is_none();
    let options = RenderOptions {
        rules: &rules,
        color,
        tool_version: env!("CARGO_PKG_VERSION"),
        files_reviewed: review.files_reviewed,
    };
    let output = render(format, &findings, &options);
    let mut out: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::stderr().lock())
    };
    // A closed pipe (`mleng review | head`) is not an error worth a message.
    let _ = out.write_all(output.as_bytes());
    if let Some(facts) = review.facts.as_ref().filter(|_| args.summary) {
        let text = scorecard::render_text(&scorecard::scorecards(facts, &findings));
        // Machine-readable formats stay parseable: the scorecard goes to stderr there.
        if to_stdout && matches!(args.format.as_str(), "text" | "concise" | "markdown") {
            let _ = out.write_all(text.as_bytes());
        } else {
            eprint!("{text}");
        }
    }
    let _ = out.flush();

    // Paths that do not exist are usage errors; findings never are.
    if review.missing_paths {
        return Ok(ExitCode::from(2));
    }
    if let Some(threshold) = reviewer.fail_on {
        if findings.iter().any(|f| f.severity >= threshold) {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "Fixed 3 findings in 2 files; 1 more fix with --unsafe-fixes."
fn fix_summary(
    run: &mleng_review::fix::FixRun,
    remaining: &[Finding],
    unsafe_applied: bool,
    written: bool,
) -> String {
    let count = run.applied_count();
    let files = run.files.len();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut text = if count == 0 {
        "mleng: nothing to fix".to_string()
    } else {
        format!(
            "mleng: {} {} in {}",
            if written { "fixed" } else { "would fix" },
            plural(count, "finding"),
            plural(files, "file")
        )
    };
    if !unsafe_applied {
        let more = remaining
            .iter()
            .filter(|f| {
                f.fix
                    .as_ref()
                    .is_some_and(|x| x.applies_at(Applicability::Unsafe))
            })
            .count();
        if more > 0 {
            text.push_str(&format!(
                "; {} with --unsafe-fixes (they change behaviour: review them)",
                plural(more, "more fix")
            ));
        }
    }
    text
}
