//! `mleng inspect`: review model graphs (`.onnx`) and checkpoints (`.safetensors`,
//! `.pt`/`.pth`/`.bin`) without running Python or anything stored in the file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use mleng_diagnostics::{Finding, Format, RenderOptions, RuleInfo, Severity};
use mleng_models::ckpt::{self, diff, review};
use mleng_models::memory::TrainingSetup;
use mleng_models::onnx::{self, GraphOptions};
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

const CHECKPOINT_EXT: &[&str] = &["safetensors", "pt", "pth", "bin", "ckpt"];

fn ext(p: &Path) -> String {
    p.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn is_model_file(p: &Path) -> bool {
    let e = ext(p);
    e == "onnx" || CHECKPOINT_EXT.contains(&e.as_str())
}

/// In a folder, a `.bin` that is not a zip is someone else's blob (ONNX external data,
/// tokenizer files), not a PyTorch checkpoint: skip it rather than fail the whole run.
fn is_foreign_bin(p: &Path) -> bool {
    if ext(p) != "bin" {
        return false;
    }
    let mut magic = [0u8; 4];
    let read =
        std::fs::File::open(p).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    read.is_err() || &magic != b"PK\x03\x04"
}

fn parse_shape(text: &str) -> anyhow::Result<Vec<i64>> {
    text.split(['x', 'X', ',', '*'])
        .map(|d| {
            let d = d.trim();
            match d.parse::<i64>() {
                Ok(v) if v > 0 => Ok(v),
                _ => bail!(
                    "--input-shape: `{d}` is not a positive integer (expected e.g. 1x3x224x224)"
                ),
            }
        })
        .collect()
}

fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}: cannot list folder", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && is_model_file(f) && !is_foreign_bin(f))
                .collect();
            files.sort();
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            bail!("{}: no such file", p.display());
        }
    }
    Ok(out)
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    graphs: Vec<&'a onnx::GraphReport>,
    checkpoints: Vec<&'a review::CheckpointReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<&'a diff::DiffReport>,
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
    let files = expand(&args.paths)?;
    if files.is_empty() {
        bail!("no model files found in the given paths");
    }
    let mut graphs = Vec::new();
    let mut checkpoints = Vec::new();
    let mut diff_report = None;
    if args.diff {
        let [a, b] = files.as_slice() else {
            bail!(
                "--diff compares exactly two checkpoints, got {}",
                files.len()
            );
        };
        let ca = ckpt::load(a)?;
        let cb = ckpt::load(b)?;
        diff_report = Some(diff::diff(&ca, &cb)?);
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
        for f in &files {
            if ext(f) == "onnx" {
                graphs.push(onnx::inspect_path(f, &opts)?);
            } else {
                checkpoints.push(review::inspect_path(f)?);
            }
        }
    }
    let all: Vec<Finding> = graphs
        .iter()
        .flat_map(|g| g.findings.iter())
        .chain(checkpoints.iter().flat_map(|c| c.findings.iter()))
        .cloned()
        .collect();
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
            files_reviewed: files.len(),
        };
        out = mleng_diagnostics::render(format, &all, &options);
    } else {
        match args.format {
            OutputFormat::Json => {
                let report = JsonReport {
                    graphs: graphs.iter().collect(),
                    checkpoints: checkpoints.iter().collect(),
                    diff: diff_report.as_ref(),
                };
                out = serde_json::to_string_pretty(&report)?;
                out.push('\n');
            }
            _ => {
                if style == Style::Markdown {
                    out.push_str("# mleng inspect\n\n");
                }
                for g in &graphs {
                    out.push_str(&render::graph(g, style, args.rows));
                    out.push('\n');
                }
                for c in &checkpoints {
                    out.push_str(&render::checkpoint(c, style, args.rows));
                    out.push('\n');
                }
                if let Some(d) = &diff_report {
                    out.push_str(&render::diff(d, style, args.rows));
                }
            }
        }
    }
    print!("{out}");
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
