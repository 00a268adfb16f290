//! `mleng recommend TASK` and `mleng recommend --project PATH`: task-aware advice from the
//! recommendation data compiled into `mleng_knowledge`, and a comparison with what a project's
//! code does now.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use mleng_knowledge::recommend::{self, Constraints, DataSize, Device, Item, Latency, Task};
use mleng_rules::recommend::{advice, evidence, project_json, rows, scan_path, task_json};
use mleng_rules::tasks::ProjectScan;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DataSizeArg {
    Small,
    Medium,
    Large,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LatencyArg {
    Realtime,
    Batch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceArg {
    Edge,
    Gpu,
}

#[derive(clap::Args)]
pub struct RecommendArgs {
    /// The task: classification, detection, semantic-segmentation, instance-segmentation,
    /// keypoints, anomaly-detection (aliases such as `pose` or `segmentation` work too).
    /// Without a task and without --project, lists the tasks.
    pub task: Option<String>,
    /// Detect the task(s) from a project's code and compare what it does with the advice.
    #[arg(long, value_name = "PATH", conflicts_with = "task")]
    pub project: Option<PathBuf>,
    /// How much labelled data you have (small: < ~5k images, large: > ~100k).
    #[arg(long, value_enum)]
    pub data_size: Option<DataSizeArg>,
    /// Inference budget: realtime (video, interactive) or batch (offline).
    #[arg(long, value_enum)]
    pub latency: Option<LatencyArg>,
    /// Where the model runs.
    #[arg(long, value_enum)]
    pub device: Option<DeviceArg>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

fn constraints(args: &RecommendArgs) -> Constraints {
    Constraints {
        data_size: args.data_size.map(|d| match d {
            DataSizeArg::Small => DataSize::Small,
            DataSizeArg::Medium => DataSize::Medium,
            DataSizeArg::Large => DataSize::Large,
        }),
        latency: args.latency.map(|l| match l {
            LatencyArg::Realtime => Latency::Realtime,
            LatencyArg::Batch => Latency::Batch,
        }),
        device: args.device.map(|d| match d {
            DeviceArg::Edge => Device::Edge,
            DeviceArg::Gpu => Device::Gpu,
        }),
    }
}

fn describe(c: &Constraints) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(d) = c.data_size {
        parts.push(format!("data size {}", format!("{d:?}").to_lowercase()));
    }
    if let Some(l) = c.latency {
        parts.push(format!("latency {}", format!("{l:?}").to_lowercase()));
    }
    if let Some(d) = c.device {
        parts.push(format!("device {}", format!("{d:?}").to_lowercase()));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

pub fn run(args: RecommendArgs) -> Result<ExitCode> {
    let all = recommend::tasks().map_err(|e| anyhow!("{e}"))?;
    let c = constraints(&args);
    let out = if let Some(project) = &args.project {
        run_project(project, &c, args.format)?
    } else if let Some(name) = &args.task {
        let task = recommend::find(name).ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|t| t.id.as_str()).collect();
            anyhow!("unknown task `{name}` (known: {})", names.join(", "))
        })?;
        let narrowed = task.narrowed(&c);
        match args.format {
            OutputFormat::Text => task_text(&narrowed, &c),
            OutputFormat::Markdown => task_markdown(&narrowed, &c),
            OutputFormat::Json => json_text(&task_json(&narrowed, &c))?,
        }
    } else {
        let mut s = String::from("Tasks (mleng recommend TASK):\n");
        for t in all {
            let _ = writeln!(s, "  {:<24} {}", t.id, t.title);
        }
        s
    };
    super::write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- TASK

fn item_text(s: &mut String, item: &Item, indent: &str) {
    let _ = writeln!(s, "{indent}- {}", item.name);
    let _ = writeln!(s, "{indent}    {}", item.when);
    if let Some(p) = &item.pretrained {
        let _ = writeln!(s, "{indent}    pretrained: {p}");
    }
    if let Some(rule) = &item.rule {
        let _ = writeln!(
            s,
            "{indent}    checked by: mleng review ({rule}, `mleng explain {rule}`)"
        );
    }
    for r in &item.references {
        let _ = writeln!(s, "{indent}    [ref] {} <{}>", r.title, r.url);
    }
}

fn task_text(task: &Task, c: &Constraints) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", task.title);
    let _ = writeln!(s, "{}", task.summary);
    if let Some(d) = describe(c) {
        let _ = writeln!(s, "(narrowed to {d})");
    }
    for (heading, items) in task.sections() {
        let _ = writeln!(s, "\n{heading}");
        if items.is_empty() {
            let _ = writeln!(s, "  (nothing specific for these constraints)");
        }
        for item in items {
            item_text(&mut s, item, "  ");
        }
    }
    s
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
}

fn item_markdown(s: &mut String, item: &Item) {
    let _ = writeln!(s, "- **{}**: {}", item.name, item.when);
    if let Some(p) = &item.pretrained {
        let _ = writeln!(s, "  - Pretrained: {p}");
    }
    if let Some(rule) = &item.rule {
        let _ = writeln!(s, "  - Checked by `mleng review` rule `{rule}`");
    }
    let refs: Vec<String> = item
        .references
        .iter()
        .map(|r| format!("[{}]({})", r.title, r.url))
        .collect();
    let _ = writeln!(s, "  - References: {}", refs.join("; "));
}

fn task_markdown(task: &Task, c: &Constraints) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n\n{}", task.title, task.summary);
    if let Some(d) = describe(c) {
        let _ = writeln!(s, "\n_Narrowed to {d}._");
    }
    for (heading, items) in task.sections() {
        let _ = writeln!(s, "\n## {heading}\n");
        if items.is_empty() {
            let _ = writeln!(s, "_Nothing specific for these constraints._");
        }
        for item in items {
            item_markdown(&mut s, item);
        }
    }
    s
}

// ---------------------------------------------------------------- --project

fn run_project(root: &Path, c: &Constraints, format: OutputFormat) -> Result<String> {
    let scan = scan_path(root)?;
    Ok(match format {
        OutputFormat::Json => json_text(&project_json(&scan, c, root))?,
        OutputFormat::Markdown => project_markdown(&scan, c, root),
        OutputFormat::Text => project_text(&scan, c, root),
    })
}

fn json_text(value: &serde_json::Value) -> Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

fn project_text(scan: &ProjectScan, c: &Constraints, root: &Path) -> String {
    let mut s = String::new();
    let names: Vec<&str> = scan.tasks.iter().map(|t| t.task.as_str()).collect();
    let _ = writeln!(
        s,
        "{}: {} files scanned; tasks found: {}",
        root.display(),
        scan.files,
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    );
    if let Some(d) = describe(c) {
        let _ = writeln!(s, "(recommendations narrowed to {d})");
    }
    for detected in &scan.tasks {
        let Some(task) = recommend::find(&detected.task) else {
            continue;
        };
        let _ = writeln!(s, "\n== {} ==", task.title);
        let _ = writeln!(s, "detected from: {}", evidence(detected, root));
        for row in rows(detected, task, c, root) {
            let _ = writeln!(s, "\n  {}", row.aspect.title());
            if row.now.is_empty() {
                let _ = writeln!(s, "    now:         (nothing found)");
            }
            for (i, n) in row.now.iter().enumerate() {
                let label = if i == 0 { "now:" } else { "" };
                let _ = writeln!(s, "    {label:<12} {n}");
            }
            for (i, (used, name, why, reference)) in row.recommended.iter().enumerate() {
                let label = if i == 0 { "recommended:" } else { "" };
                let mark = if *used { "[in use]  " } else { "[consider]" };
                let _ = writeln!(s, "    {label:<12} {mark} {name}");
                let _ = writeln!(s, "    {:<12}            {why}", "");
                if !used {
                    let _ = writeln!(s, "    {:<12}            ref: {reference}", "");
                }
            }
        }
    }
    let advice = advice(scan, c, root);
    if !advice.is_empty() {
        let _ = writeln!(s, "\nAdvice (info, once per project):");
        for a in &advice {
            let _ = writeln!(s, "  {}: info: {}", a.site, a.message);
        }
    }
    if scan.tasks.is_empty() {
        let _ = writeln!(
            s,
            "\nNo computer-vision task recognised (no torchvision/timm/smp/Ultralytics/transformers vision models or box/mask datasets). Try `mleng recommend TASK`."
        );
    }
    s
}

fn project_markdown(scan: &ProjectScan, c: &Constraints, root: &Path) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Recommendations for `{}`\n", root.display());
    let _ = writeln!(s, "{} files scanned.", scan.files);
    if let Some(d) = describe(c) {
        let _ = writeln!(s, "Narrowed to {d}.");
    }
    for detected in &scan.tasks {
        let Some(task) = recommend::find(&detected.task) else {
            continue;
        };
        let _ = writeln!(s, "\n## {}\n", task.title);
        let _ = writeln!(
            s,
            "Detected from: {}\n",
            md_escape(&evidence(detected, root))
        );
        let _ = writeln!(
            s,
            "| Aspect | What the project does now | Recommended | Why / where |"
        );
        let _ = writeln!(s, "|---|---|---|---|");
        for row in rows(detected, task, c, root) {
            let now = if row.now.is_empty() {
                "_nothing found_".to_string()
            } else {
                row.now
                    .iter()
                    .map(|n| md_escape(n))
                    .collect::<Vec<_>>()
                    .join("<br>")
            };
            for (i, (used, name, why, reference)) in row.recommended.iter().enumerate() {
                let (aspect, now) = if i == 0 {
                    (row.aspect.title(), now.as_str())
                } else {
                    ("", "")
                };
                let mark = if *used { "✓ " } else { "" };
                let why = if *used {
                    why.clone()
                } else {
                    format!("{why} ({reference})")
                };
                let _ = writeln!(
                    s,
                    "| {aspect} | {now} | {mark}{} | {} |",
                    md_escape(name),
                    md_escape(&why)
                );
            }
        }
    }
    let advice = advice(scan, c, root);
    if !advice.is_empty() {
        let _ = writeln!(s, "\n## Advice\n");
        for a in &advice {
            let _ = writeln!(s, "- `{}`: {}", a.site, a.message);
        }
    }
    s
}
