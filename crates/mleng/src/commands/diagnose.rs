//! `mleng diagnose PATH...`: read training logs, find what went wrong and when, say what
//! to try, and optionally draw the curves. The work is in `mleng_runs`; this module parses
//! arguments, picks the renderer and maps severities to the exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use mleng_diagnostics::Severity;
use mleng_runs::diagnosis::{self, Diagnosis};
use mleng_runs::roles::Role;
use mleng_runs::{discover, plot, report};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

#[derive(clap::Args)]
pub struct DiagnoseArgs {
    /// Log files or folders to search for runs (TensorBoard event files, Lightning
    /// metrics.csv, trainer_state.json, *.jsonl, Ultralytics results.csv, MLflow mlruns/ or
    /// mlflow.db, W&B wandb/run-*/ and offline-run-*/ folders (run-*.wandb), CSV with a step
    /// column).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Print a table of final/best metrics and verdicts across runs.
    #[arg(long)]
    pub compare: bool,

    /// Draw loss/metric/LR/grad-norm curves with the detected events to FILE.svg, FILE.png
    /// or FILE.html. With several runs, the run name is added to the file name.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,

    /// Use series NAME for ROLE (train_loss, val_loss, train_metric, val_metric, lr,
    /// grad_norm, grad_norm_first_layer, throughput, epoch). Repeatable.
    #[arg(long = "metric", value_name = "ROLE=NAME")]
    pub metrics: Vec<String>,

    /// Number of classes, for the chance-level loss ln(K) (guessed from the loss otherwise).
    #[arg(long, value_name = "K")]
    pub classes: Option<u32>,

    /// Exit with status 1 when a finding at least this severe is found (info, warning, error).
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
}

/// Writes the report, ending with a newline; a closed pipe (`mleng diagnose ... | head`) is
/// not an error.
fn write_stdout(body: &str) -> anyhow::Result<()> {
    if body.ends_with('\n') {
        super::write_stdout(body)
    } else {
        super::write_stdout(&format!("{body}\n"))
    }
}

fn parse_overrides(specs: &[String]) -> anyhow::Result<Vec<(Role, String)>> {
    specs
        .iter()
        .map(|spec| {
            let (role, name) = spec
                .split_once('=')
                .with_context(|| format!("--metric {spec:?}: expected ROLE=NAME"))?;
            let role = Role::parse(role).with_context(|| {
                let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!(
                    "--metric {spec:?}: unknown role {role:?}; roles are {}",
                    roles.join(", ")
                )
            })?;
            if name.trim().is_empty() {
                bail!("--metric {spec:?}: empty series name");
            }
            Ok((role, name.trim().to_string()))
        })
        .collect()
}

pub fn run(args: DiagnoseArgs) -> anyhow::Result<ExitCode> {
    let gate = match &args.fail_on {
        Some(text) => Some(
            Severity::parse(text)
                .with_context(|| format!("--fail-on {text:?}: expected info, warning or error"))?,
        ),
        None => None,
    };
    if args.classes.is_some_and(|k| k < 2) {
        bail!("--classes must be at least 2");
    }
    let overrides = parse_overrides(&args.metrics)?;
    let runs = discover::load_runs(&args.paths)?;
    for (role, name) in &overrides {
        if !runs.iter().any(|r| r.series(name).is_some()) {
            eprintln!(
                "mleng: warning: --metric {}={name}: no run has a series called {name:?}",
                role.as_str()
            );
        }
    }
    let diagnoses: Vec<Diagnosis> = runs
        .iter()
        .map(|r| diagnosis::diagnose(r, &overrides, args.classes))
        .collect();

    let body = match (args.format, args.compare) {
        (Format::Json, _) => report::json::render(&diagnoses)?,
        (Format::Markdown, true) => format!(
            "{}\n{}",
            report::compare::markdown(&diagnoses),
            report::markdown::render(&diagnoses)
        ),
        (Format::Markdown, false) => report::markdown::render(&diagnoses),
        (Format::Text, true) => report::compare::text(&diagnoses),
        (Format::Text, false) => report::text::render(&diagnoses),
    };
    write_stdout(&body)?;

    if let Some(path) = &args.plot {
        let written = plot::write_plots(path, &runs, &diagnoses, &overrides, args.classes)?;
        for p in written {
            eprintln!("mleng: wrote {}", p.display());
        }
    }

    let tripped = gate.is_some_and(|g| {
        diagnoses
            .iter()
            .flat_map(Diagnosis::findings)
            .any(|f| f.severity >= g)
    });
    Ok(if tripped {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
