//! Markdown report: one section per run, a findings table, then details.

use std::fmt::Write;

use super::{best, opt, step_range};
use crate::diagnosis::Diagnosis;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn render(diagnoses: &[Diagnosis]) -> String {
    let mut out = String::from("# mleng diagnose\n");
    for d in diagnoses {
        let _ = writeln!(out, "\n## {}\n", cell(&d.run));
        let _ = writeln!(out, "**{}**\n", cell(&d.verdict));
        let s = &d.summary;
        let _ = writeln!(
            out,
            "Last step {} · final train loss {} · best val loss {} · best {} {}\n",
            s.last_step
                .map(|x| x.to_string())
                .unwrap_or_else(|| "-".into()),
            opt(s.final_train_loss),
            best(s.best_val_loss),
            cell(s.val_metric_name.as_deref().unwrap_or("val metric")),
            best(s.best_val_metric)
        );
        if let Some(c) = &s.config {
            let _ = writeln!(
                out,
                "Config: {} (`{}`)\n",
                cell(&c.describe()),
                cell(&c.source.display().to_string())
            );
        }
        if d.events.is_empty() && d.notes.is_empty() {
            out.push_str("No findings.\n");
            continue;
        }
        out.push_str("| severity | code | where | finding |\n|---|---|---|---|\n");
        for n in &d.notes {
            let _ = writeln!(
                out,
                "| {} | RUN020 | `{}` | {} |",
                if n.serious { "warning" } else { "info" },
                cell(&n.path.display().to_string()),
                cell(&n.message)
            );
        }
        for e in &d.events {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                e.severity,
                e.code,
                step_range(e.first_step, e.last_step),
                cell(&e.title)
            );
        }
        for e in &d.events {
            let _ = writeln!(out, "\n### {} {}: {}\n", e.code, e.name, cell(&e.title));
            for line in &e.evidence {
                let _ = writeln!(out, "- {line}");
            }
            if !e.causes.is_empty() {
                out.push_str("\nLikely causes, most likely first:\n\n");
                for (i, c) in e.causes.iter().enumerate() {
                    let _ = writeln!(out, "{}. {c}", i + 1);
                }
            }
            if !e.fixes.is_empty() {
                out.push_str("\nWhat to try:\n\n");
                for f in &e.fixes {
                    let _ = writeln!(out, "- {f}");
                }
            }
            if !e.related.is_empty() {
                let _ = writeln!(
                    out,
                    "\nRelated `mleng review` rules: {}",
                    e.related.join(", ")
                );
            }
        }
    }
    out
}
