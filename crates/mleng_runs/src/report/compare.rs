//! `--compare`: one row per run with final/best metrics and the verdict.

use std::fmt::Write;

use super::{best, opt};
use crate::diagnosis::Diagnosis;

pub struct Row {
    pub cells: Vec<String>,
}

pub const HEADER: [&str; 8] = [
    "run",
    "status",
    "last step",
    "final train loss",
    "best val loss",
    "final val loss",
    "best val metric",
    "findings",
];

pub fn rows(diagnoses: &[Diagnosis]) -> Vec<Row> {
    diagnoses
        .iter()
        .map(|d| {
            let s = &d.summary;
            let mut codes: Vec<&str> = d
                .events
                .iter()
                .filter(|e| e.severity >= mleng_diagnostics::Severity::Warning)
                .map(|e| e.code)
                .collect();
            if d.notes.iter().any(|n| n.serious) {
                codes.push(crate::diagnosis::INPUT_CODE);
            }
            Row {
                cells: vec![
                    d.run.clone(),
                    d.status.label().to_string(),
                    s.last_step
                        .map(|x| x.to_string())
                        .unwrap_or_else(|| "-".into()),
                    opt(s.final_train_loss),
                    best(s.best_val_loss),
                    opt(s.final_val_loss),
                    match &s.val_metric_name {
                        Some(n) => format!("{n} {}", best(s.best_val_metric)),
                        None => "-".into(),
                    },
                    if codes.is_empty() {
                        "-".into()
                    } else {
                        codes.join(" ")
                    },
                ],
            }
        })
        .collect()
}

/// A fixed-width table for terminals.
pub fn text(diagnoses: &[Diagnosis]) -> String {
    let rows = rows(diagnoses);
    let mut widths: Vec<usize> = HEADER.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(&r.cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(HEADER.to_vec(), &mut out);
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
        &mut out,
    );
    for r in &rows {
        line(r.cells.iter().map(String::as_str).collect(), &mut out);
    }
    out.push('\n');
    for d in diagnoses {
        let _ = writeln!(out, "{}: {}", d.run, d.verdict);
    }
    out
}

pub fn markdown(diagnoses: &[Diagnosis]) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        HEADER.join(" | "),
        "---|".repeat(HEADER.len())
    );
    for r in rows(diagnoses) {
        let cells: Vec<String> = r.cells.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}
