//! `mleng arch PATH[::ClassName]`: the static model map. For each `nn.Module` subclass and
//! module-level `nn.Sequential`, its layers in forward order with their literal arguments,
//! parameter counts computed from those literals ("unknown" where an argument is not a
//! literal), each layer's share, and parameter bottlenecks.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use mleng_models::memory::{self, TrainingSetup};
use mleng_rules::arch::{map_path, maps_json, ModelMap};
use mleng_rules::arch_shapes;

#[derive(clap::Args)]
pub struct ArchArgs {
    /// A Python file, notebook or directory; `file.py::ClassName` shows one model.
    pub path: String,
    /// Output format: text or json.
    #[arg(long, default_value = "text")]
    pub format: String,
    /// Per-GPU batch size: adds a training-memory estimate to each model.
    #[arg(long)]
    pub batch: Option<i64>,
    /// Optimizer for the estimate: sgd, sgd-momentum, adamw (default), adam-amsgrad,
    /// adamw8bit, rmsprop, adagrad.
    #[arg(long, value_name = "NAME")]
    pub optimizer: Option<String>,
    /// Precision for the estimate: fp32 (default), bf16/fp16 (autocast), pure-bf16,
    /// pure-fp16, master-fp16.
    #[arg(long, value_name = "NAME")]
    pub precision: Option<String>,
    /// One sample's input shape without the batch dim (3,224,224), to count activations.
    #[arg(long, value_name = "DIMS")]
    pub input_shape: Option<String>,
}

fn training_setup(args: &ArchArgs) -> Result<Option<TrainingSetup>> {
    let asked = args.batch.is_some()
        || args.optimizer.is_some()
        || args.precision.is_some()
        || args.input_shape.is_some();
    if !asked {
        return Ok(None);
    }
    Ok(Some(TrainingSetup::parse(
        args.batch,
        args.optimizer.as_deref().unwrap_or("adamw"),
        args.precision.as_deref().unwrap_or("fp32"),
    )?))
}

fn parse_sample_shape(text: &str) -> Result<Vec<u64>> {
    text.split(['x', 'X', ',', '*'])
        .map(|d| match d.trim().parse::<u64>() {
            Ok(v) if v > 0 => Ok(v),
            _ => bail!(
                "--input-shape: `{}` is not a positive integer (expected one sample's shape, e.g. 3,224,224)",
                d.trim()
            ),
        })
        .collect()
}

/// The training-memory estimate of one model map.
fn training_memory(
    map: &ModelMap,
    setup: &TrainingSetup,
    input: Option<&[u64]>,
) -> memory::TrainingMemory {
    let activations = match (map.total(), input) {
        (None, _) => memory::Activations::Unknown(
            "the parameter count is not known, so neither are the shapes".into(),
        ),
        (_, None) => memory::Activations::Unknown(
            "no input shape: pass --input-shape, e.g. 3,224,224".into(),
        ),
        (Some(_), Some(input)) => match arch_shapes::kept_per_sample(map, input) {
            Ok(k) => memory::Activations::Known {
                elements: k.elements.saturating_mul(setup.batch),
                fp32_elements: k.output_elements.saturating_mul(setup.batch),
                autocast_elements: k.elements.saturating_mul(setup.batch),
                autocast_fp32_elements: 0,
                byte_elements: k.byte_elements.saturating_mul(setup.batch),
                complete: true,
            },
            Err(why) => memory::Activations::Unknown(why),
        },
    };
    memory::estimate(map.known_params, &activations, setup)
}

pub fn run(args: ArchArgs) -> Result<ExitCode> {
    if args.format != "text" && args.format != "json" {
        bail!(
            "unknown format `{}` for `mleng arch` (expected text or json)",
            args.format
        );
    }
    let setup = training_setup(&args)?;
    let input = args
        .input_shape
        .as_deref()
        .map(parse_sample_shape)
        .transpose()?;
    let (path, only) = match args.path.rsplit_once("::") {
        Some((path, class)) if !class.is_empty() => (PathBuf::from(path), Some(class.to_string())),
        _ => (PathBuf::from(&args.path), None),
    };
    if !path.exists() {
        bail!("{}: no such file or directory", path.display());
    }
    let (all, skipped) = map_path(&path, only.as_deref());
    for (file, err) in skipped {
        eprintln!("mleng: skipping {}: {err}", file.display());
    }
    if let Some(name) = &only {
        if all.is_empty() {
            bail!(
                "no nn.Module class or nn.Sequential named `{name}` in {}",
                path.display()
            );
        }
    }
    let training: Vec<Option<memory::TrainingMemory>> = all
        .iter()
        .map(|m| {
            setup
                .as_ref()
                .map(|s| training_memory(m, s, input.as_deref()))
        })
        .collect();
    if args.format == "json" {
        let mut json = maps_json(&all);
        if let Some(models) = json["models"].as_array_mut() {
            for (model, t) in models.iter_mut().zip(&training) {
                if let Some(t) = t {
                    model["training_memory"] = serde_json::to_value(t)?;
                }
            }
        }
        super::write_stdout(&format!("{}\n", serde_json::to_string_pretty(&json)?))?;
    } else {
        super::write_stdout(&render_text(&all, &training))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn render_text(maps: &[ModelMap], training: &[Option<memory::TrainingMemory>]) -> String {
    if maps.is_empty() {
        return "No nn.Module classes or nn.Sequential models found.\n".to_string();
    }
    let mut out = String::new();
    for (i, m) in maps.iter().enumerate() {
        let total = match m.total() {
            Some(t) => format!("{} parameters", thousands(t)),
            None => format!(
                "at least {} parameters ({} layer{} unknown)",
                thousands(m.known_params),
                m.unknown_layers,
                if m.unknown_layers == 1 { "" } else { "s" }
            ),
        };
        out.push_str(&format!(
            "{} ({}, {})  {}\n",
            m.name, m.kind, m.location, total
        ));
        if !m.defaults.is_empty() {
            out.push_str(&format!(
                "  with __init__ defaults: {}\n",
                m.defaults.join(", ")
            ));
        }
        let name_w = m
            .layers
            .iter()
            .map(|l| l.name.len())
            .max()
            .unwrap_or(5)
            .clamp(5, 32);
        let type_w = m
            .layers
            .iter()
            .map(|l| l.layer_type.len())
            .max()
            .unwrap_or(4)
            .clamp(4, 24);
        for l in &m.layers {
            let mut args = l.args.split_whitespace().collect::<Vec<_>>().join(" ");
            if args.len() > 48 {
                let cut = args.floor_char_boundary(45);
                args = format!("{}...", &args[..cut]);
            }
            let params = match l.params {
                Some(p) => thousands(p),
                None => "unknown".to_string(),
            };
            let share = l
                .share
                .map_or(String::new(), |s| format!("{:5.1}%", s * 100.0));
            let mut notes = Vec::new();
            if l.bottleneck {
                notes.push("<- bottleneck: most of the model's parameters".to_string());
            }
            if !l.used_in_forward {
                notes.push("(not used in forward)".to_string());
            }
            if let Some(reason) = &l.unknown_reason {
                notes.push(format!("({reason})"));
            }
            out.push_str(
                format!(
                    "  {:<name_w$}  {:<type_w$}  {:<48}  {:>12}  {:>6}  {}\n",
                    l.name,
                    l.layer_type,
                    args,
                    params,
                    share,
                    notes.join(" ")
                )
                .trim_end(),
            );
            out.push('\n');
        }
        if let Some(Some(t)) = training.get(i) {
            for line in memory::render_text(t).lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        out.push('\n');
    }
    out
}
