//! `mleng arch PATH[::ClassName]`: the static model map. For each `nn.Module` subclass and
//! module-level `nn.Sequential`, its layers in forward order with their literal arguments,
//! parameter counts computed from those literals ("unknown" where an argument is not a
//! literal), each layer's share, and parameter bottlenecks.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use mleng_rules::arch::{map_path, maps_json, ModelMap};

#[derive(clap::Args)]
pub struct ArchArgs {
    /// A Python file, notebook or directory; `file.py::ClassName` shows one model.
    pub path: String,
    /// Output format: text or json.
    #[arg(long, default_value = "text")]
    pub format: String,
}

pub fn run(args: ArchArgs) -> Result<ExitCode> {
    if args.format != "text" && args.format != "json" {
        bail!(
            "unknown format `{}` for `mleng arch` (expected text or json)",
            args.format
        );
    }
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
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&maps_json(&all))?);
    } else {
        print!("{}", render_text(&all));
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

fn render_text(maps: &[ModelMap]) -> String {
    if maps.is_empty() {
        return "No nn.Module classes or nn.Sequential models found.\n".to_string();
    }
    let mut out = String::new();
    for m in maps {
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
        out.push('\n');
    }
    out
}
