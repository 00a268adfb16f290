//! `mleng inspect`: review model graphs (`.onnx`) and checkpoints (`.safetensors`,
//! `.pt`/`.pth`/`.bin`) without running Python or anything stored in the file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use mleng_diagnostics::{Finding, Format, RenderOptions, RuleInfo, Severity};
use mleng_models::inspect;
use mleng_models::memory::TrainingSetup;
use mleng_models::onnx::GraphOptions;
use mleng_models::render::{self, Style};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Markdown,
    /// The findings only, one per line (as `mleng review --format concise`).
    Concise,
    /// The findings only, as SARIF 2.1.0 for code scanning.
    Sarif,
    /// The findings only, as GitHub workflow annotations.
    Github,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Model files (.onnx, .safetensors, .pt, .pth, .bin) or folders holding them.
    pub paths: Vec<PathBuf>,
    /// Compare two checkpoints: per-layer relative L2 drift from the first to the second.
    #[arg(long)]
    pub diff: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Input shape for graphs whose input is dynamic, e.g. 1x3x224x224.
    #[arg(long, value_name = "DIMS")]
    pub input_shape: Option<String>,
    /// Batch size for the memory estimate (replaces the input's first dim).
    #[arg(long)]
    pub batch: Option<i64>,
    /// Estimate training memory (weights, gradients, optimizer state, activations kept for
    /// backward, CUDA context) for ONNX graphs; needs --batch.
    #[arg(long)]
    pub train: bool,
    /// Optimizer for --train: sgd, sgd-momentum, adamw, adam-amsgrad, adamw8bit, rmsprop, adagrad.
    #[arg(long, value_name = "NAME", default_value = "adamw")]
    pub optimizer: String,
    /// Precision for --train: fp32, bf16/fp16 (autocast), pure-bf16, pure-fp16, master-fp16.
    #[arg(long, value_name = "NAME", default_value = "fp32")]
    pub precision: String,
    /// Number of bottleneck layers to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Rows in the per-layer tables (0 = all).
    #[arg(long, default_value_t = 25)]
    pub rows: usize,
    /// Exit with status 1 when a finding at least this severe is reported.
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
}

fn parse_shape(text: &str) -> anyhow::Result<Vec<i64>> {
    inspect::parse_shape(text).map_err(|e| anyhow::anyhow!("--input-shape: {e}"))
}

pub fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    if args.paths.is_empty() {
        bail!("mleng inspect needs a model file (.onnx, .safetensors, .pt, .pth, .bin)");
    }
    let fail_on = match &args.fail_on {
        Some(s) => Some(
            Severity::parse(s)
                .with_context(|| format!("--fail-on: `{s}` is not info, warning or error"))?,
        ),
        None => None,
    };
    let style = match args.format {
        OutputFormat::Markdown => Style::Markdown,
        _ => Style::Text,
    };
    let inspection = if args.diff {
        inspect::diff_pair(&args.paths)?
    } else {
        let training = if args.train {
            Some(TrainingSetup::parse(
                args.batch,
                &args.optimizer,
                &args.precision,
            )?)
        } else {
            None
        };
        let opts = GraphOptions {
            input_shape: args.input_shape.as_deref().map(parse_shape).transpose()?,
            batch: args.batch,
            top: args.top,
            training,
        };
        inspect::inspect(&args.paths, &opts)?
    };
    if inspection.files.is_empty() {
        bail!("no model files found in the given paths");
    }
    let all: Vec<Finding> = inspection.findings().cloned().collect();
    let mut out = String::new();
    let findings_only = match args.format {
        OutputFormat::Concise => Some(Format::Concise),
        OutputFormat::Sarif => Some(Format::Sarif),
        OutputFormat::Github => Some(Format::Github),
        _ => None,
    };
    if let Some(format) = findings_only {
        let rules = rule_infos(&all);
        let options = RenderOptions {
            rules: &rules,
            color: false,
            tool_version: env!("CARGO_PKG_VERSION"),
            files_reviewed: inspection.files.len(),
        };
        out = mleng_diagnostics::render(format, &all, &options);
    } else {
        match args.format {
            OutputFormat::Json => {
                out = serde_json::to_string_pretty(&inspection)?;
                out.push('\n');
            }
            _ => {
                if style == Style::Markdown {
                    out.push_str("# mleng inspect\n\n");
                }
                for g in &inspection.graphs {
                    out.push_str(&render::graph(g, style, args.rows));
                    out.push('\n');
                }
                for c in &inspection.checkpoints {
                    out.push_str(&render::checkpoint(c, style, args.rows));
                    out.push('\n');
                }
                if let Some(d) = &inspection.diff {
                    out.push_str(&render::diff(d, style, args.rows));
                }
            }
        }
    }
    super::write_stdout(&out)?;
    let tripped = fail_on.is_some_and(|min| all.iter().any(|f| f.severity >= min));
    Ok(if tripped {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Rule metadata for SARIF and the other shared renderers, from the inspect checks' catalog.
fn rule_infos(findings: &[Finding]) -> Vec<RuleInfo> {
    let mut infos: Vec<RuleInfo> = Vec::new();
    for f in findings {
        if infos.iter().any(|r| r.code == f.code) {
            continue;
        }
        let summary = mleng_models::catalog::find(&f.code)
            .map_or_else(|| f.name.clone(), |(_, _, what)| what.to_string());
        infos.push(RuleInfo {
            code: f.code.clone(),
            name: f.name.clone(),
            area: f.area,
            default_severity: f.severity,
            docs_markdown: format!("{summary}\n\nSee docs/inspect.md in the mleng repository."),
            summary,
            fix: None,
        });
    }
    infos
}
