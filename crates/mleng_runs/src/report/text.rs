//! The terminal report: a verdict line per run, then each finding with its evidence,
//! ranked causes and what to try.

use std::fmt::Write;

use super::{best, opt, step_range};
use crate::diagnosis::Diagnosis;

pub fn render(diagnoses: &[Diagnosis]) -> String {
    let mut out = String::new();
    for (i, d) in diagnoses.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_one(&mut out, d);
    }
    out
}

fn render_one(out: &mut String, d: &Diagnosis) {
    let _ = writeln!(out, "== {} ({})", d.run, d.root.display());
    let _ = writeln!(out, "{}", d.verdict);
    let s = &d.summary;
    let _ = writeln!(
        out,
        "   last step {} | final train loss {} | best val loss {} | best {} {}",
        s.last_step
            .map(|x| x.to_string())
            .unwrap_or_else(|| "-".into()),
        opt(s.final_train_loss),
        best(s.best_val_loss),
        s.val_metric_name.as_deref().unwrap_or("val metric"),
        best(s.best_val_metric)
    );
    let sources: Vec<String> = d.sources.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(out, "   read: {}", sources.join(", "));
    if let Some(c) = &s.config {
        let _ = writeln!(out, "   config: {} ({})", c.describe(), c.source.display());
    }
    for note in &d.notes {
        let sev = if note.serious { "warning" } else { "info" };
        let where_ = match (note.offset, note.line) {
            (Some(o), _) => format!(" (byte {o})"),
            (None, Some(l)) => format!(":{l}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "\n  {sev} RUN020 damaged-log  {}{where_}\n    {}",
            note.path.display(),
            note.message
        );
    }
    for e in &d.events {
        let _ = writeln!(
            out,
            "\n  {} {} {}  {}",
            e.severity,
            e.code,
            e.name,
            step_range(e.first_step, e.last_step)
        );
        let _ = writeln!(out, "    {}", e.title);
        for line in &e.evidence {
            let _ = writeln!(out, "      - {line}");
        }
        if !e.causes.is_empty() {
            let _ = writeln!(out, "    likely causes, most likely first:");
            for (i, c) in e.causes.iter().enumerate() {
                let _ = writeln!(out, "      {}. {c}", i + 1);
            }
        }
        if !e.fixes.is_empty() {
            let _ = writeln!(out, "    try:");
            for f in &e.fixes {
                let _ = writeln!(out, "      - {f}");
            }
        }
        if !e.related.is_empty() {
            let _ = writeln!(
                out,
                "    related: mleng review rules {}",
                e.related.join(", ")
            );
        }
    }
}
