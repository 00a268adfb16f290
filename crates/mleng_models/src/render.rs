//! Text and markdown rendering of inspect reports (JSON is the reports' serde form).

use std::fmt::Write;

use mleng_diagnostics::Finding;

use crate::ckpt::diff::DiffReport;
use crate::ckpt::review::CheckpointReport;
use crate::onnx::shape::Dim;
use crate::onnx::GraphReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Text,
    Markdown,
}

/// `12,345,678`
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `3.63 G`, `1.02 M`
pub fn si(n: u64) -> String {
    let v = n as f64;
    for (scale, unit) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if v >= scale {
            return format!("{:.2} {unit}", v / scale);
        }
    }
    n.to_string()
}

pub fn bytes(n: u64) -> String {
    let v = n as f64;
    for (scale, unit) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if n >= scale {
            return format!("{:.1} {unit}", v / scale as f64);
        }
    }
    format!("{n} B")
}

pub fn shape(s: &[Dim]) -> String {
    let v: Vec<String> = s
        .iter()
        .map(|d| d.map(|d| d.to_string()).unwrap_or_else(|| "?".into()))
        .collect();
    if v.is_empty() {
        "scalar".into()
    } else {
        v.join("x")
    }
}

fn ushape(s: &[u64]) -> String {
    let v: Vec<String> = s.iter().map(u64::to_string).collect();
    if v.is_empty() {
        "scalar".into()
    } else {
        v.join("x")
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn num(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e5) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// A table: aligned columns for text, pipes for markdown.
fn table(out: &mut String, style: Style, head: &[&str], rows: &[Vec<String>]) {
    match style {
        Style::Markdown => {
            let _ = writeln!(out, "| {} |", head.join(" | "));
            let _ = writeln!(
                out,
                "|{}|",
                head.iter().map(|_| "---").collect::<Vec<_>>().join("|")
            );
            for r in rows {
                let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
        }
        Style::Text => {
            let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
            for r in rows {
                for (i, c) in r.iter().enumerate() {
                    if let Some(x) = w.get_mut(i) {
                        *x = (*x).max(c.chars().count());
                    }
                }
            }
            let line = |cells: Vec<&str>| {
                let mut s = String::from(" ");
                for (i, c) in cells.iter().enumerate() {
                    let width = w.get(i).copied().unwrap_or(0);
                    let _ = write!(s, " {c:<width$}");
                }
                s.trim_end().to_string()
            };
            let _ = writeln!(out, "{}", line(head.to_vec()));
            for r in rows {
                let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
            }
        }
    }
}

fn heading(out: &mut String, style: Style, level: usize, text: &str) {
    match style {
        Style::Markdown => {
            let _ = writeln!(out, "\n{} {text}\n", "#".repeat(level));
        }
        Style::Text => {
            let _ = writeln!(out, "\n{text}");
        }
    }
}

fn kv(out: &mut String, style: Style, key: &str, value: &str) {
    match style {
        Style::Markdown => {
            let _ = writeln!(out, "- **{key}**: {value}");
        }
        Style::Text => {
            let _ = writeln!(out, "  {key:<10} {value}");
        }
    }
}

pub fn findings(out: &mut String, style: Style, list: &[Finding]) {
    if list.is_empty() {
        heading(out, style, 3, "Findings: none");
        return;
    }
    heading(out, style, 3, &format!("Findings ({})", list.len()));
    for f in list {
        match style {
            Style::Markdown => {
                let _ = writeln!(
                    out,
                    "- **{}** `{}` {} ({}): {}",
                    f.severity, f.code, f.name, f.area, f.message
                );
                for e in &f.evidence {
                    let _ = writeln!(out, "  - {e}");
                }
                if let Some(fix) = &f.fix {
                    let _ = writeln!(out, "  - fix: {}", fix.message);
                }
            }
            Style::Text => {
                let _ = writeln!(
                    out,
                    "  {}[{}] {}: {}",
                    f.severity, f.code, f.name, f.message
                );
                for e in &f.evidence {
                    let _ = writeln!(out, "      = {e}");
                }
                if let Some(fix) = &f.fix {
                    let _ = writeln!(out, "      fix: {}", fix.message);
                }
            }
        }
    }
}

pub fn graph(r: &GraphReport, style: Style, rows: usize) -> String {
    let mut out = String::new();
    let title = format!(
        "{} ({}, opset {}, {} nodes)",
        r.path, r.producer, r.opset, r.nodes
    );
    match style {
        Style::Markdown => {
            let _ = writeln!(
                out,
                "## `{}`\n\n{}, opset {}, {} nodes\n",
                r.path, r.producer, r.opset, r.nodes
            );
        }
        Style::Text => {
            let _ = writeln!(out, "{title}");
        }
    }
    for (name, s) in &r.inputs {
        let s = s.as_deref().map(shape).unwrap_or_else(|| "unknown".into());
        kv(&mut out, style, "input", &format!("{name}: {s}"));
    }
    let w = &r.weights;
    kv(
        &mut out,
        style,
        "weights",
        &format!(
            "{} float elements stored ({} in initializers, {} in Constant nodes), {}",
            thousands(w.stored_float_elements),
            thousands(w.initializer_float_elements),
            thousands(w.constant_float_elements),
            bytes(w.weight_bytes)
        ),
    );
    if w.per_use_elements != w.stored_float_elements {
        kv(
            &mut out,
            style,
            "shared",
            &format!(
                "{} elements counting each shared initializer once per layer using it (the exporter deduplicated identical tensors)",
                thousands(w.per_use_elements)
            ),
        );
    }
    if w.external_initializers > 0 {
        let missing = w.unavailable.len();
        let state = if missing == 0 {
            "present and inside the model folder".to_string()
        } else {
            format!("{missing} unavailable: parameter counts come from the initializers' dims")
        };
        kv(
            &mut out,
            style,
            "external",
            &format!(
                "{} initializers use external data; {state}",
                w.external_initializers
            ),
        );
    }
    if r.folded_norm.likely {
        kv(&mut out, style, "folded", "BatchNorm folded into the preceding layers at export: PyTorch's parameter count is larger than the stored weights");
    }
    kv(
        &mut out,
        style,
        "compute",
        &format!(
            "{} MACs = {} FLOPs (conv {}, linear {}, attention {}); counted: Conv, ConvTranspose, Gemm, MatMul; 1 MAC = 2 FLOPs",
            si(r.total_macs),
            si(r.total_flops),
            si(r.flops_conv),
            si(r.flops_linear),
            si(r.flops_attention)
        ),
    );
    if !r.flops_by_op.is_empty() && r.total_flops > 0 {
        let mut ops: Vec<(&String, &u64)> = r.flops_by_op.iter().collect();
        ops.sort_by(|a, b| b.1.cmp(a.1));
        let list: Vec<String> = ops
            .iter()
            .map(|(o, f)| {
                format!(
                    "{o} {} ({})",
                    si(**f),
                    pct(**f as f64 / r.total_flops as f64)
                )
            })
            .collect();
        kv(&mut out, style, "by op", &list.join(", "));
    }
    let m = &r.memory;
    kv(
        &mut out,
        style,
        "memory",
        &format!(
            "batch {}: weights {} + peak activations {}{} = {} (inference, no workspace)",
            m.batch.map(|b| b.to_string()).unwrap_or_else(|| "?".into()),
            bytes(m.weight_bytes),
            bytes(m.peak_activation_bytes),
            if m.activations_complete {
                ""
            } else {
                " (lower bound: some shapes unknown)"
            },
            bytes(m.total_bytes)
        ),
    );
    if let Some(t) = &r.training {
        if style == Style::Markdown {
            out.push_str("\n```\n");
            out.push_str(&crate::memory::render_text(t));
            out.push_str("```\n\n");
        } else {
            for line in crate::memory::render_text(t).lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    if !r.bottlenecks.is_empty() {
        heading(&mut out, style, 3, "Bottlenecks");
        let rows_b: Vec<Vec<String>> = r
            .bottlenecks
            .iter()
            .map(|b| {
                vec![
                    b.module.clone().unwrap_or_else(|| b.name.clone()),
                    b.op.clone(),
                    si(b.flops),
                    pct(b.flops_share),
                    thousands(b.params),
                    pct(b.params_share),
                ]
            })
            .collect();
        table(
            &mut out,
            style,
            &["layer", "op", "FLOPs", "% FLOPs", "params", "% params"],
            &rows_b,
        );
    }
    let shown: Vec<Vec<String>> = r
        .layers
        .iter()
        .take(if rows == 0 { usize::MAX } else { rows })
        .map(|l| {
            vec![
                l.module.clone().unwrap_or_else(|| l.name.clone()),
                l.op.clone(),
                l.output_shape
                    .as_deref()
                    .map(shape)
                    .unwrap_or_else(|| "?".into()),
                thousands(l.params),
                l.macs.map(si).unwrap_or_else(|| "?".into()),
                l.flops.map(si).unwrap_or_else(|| "?".into()),
                l.output_bytes.map(bytes).unwrap_or_else(|| "?".into()),
            ]
        })
        .collect();
    heading(
        &mut out,
        style,
        3,
        &format!("Layers by cost ({} of {})", shown.len(), r.layers.len()),
    );
    table(
        &mut out,
        style,
        &[
            "layer",
            "op",
            "output",
            "params",
            "MACs",
            "FLOPs",
            "activation",
        ],
        &shown,
    );
    findings(&mut out, style, &r.findings);
    out
}

pub fn checkpoint(r: &CheckpointReport, style: Style, rows: usize) -> String {
    let mut out = String::new();
    match style {
        Style::Markdown => {
            let _ = writeln!(out, "## `{}`\n", r.path);
        }
        Style::Text => {
            let _ = writeln!(out, "{}", r.path);
        }
    }
    kv(
        &mut out,
        style,
        "format",
        &format!("{:?}, {}", r.format, bytes(r.file_bytes)),
    );
    kv(
        &mut out,
        style,
        "tensors",
        &format!(
            "{} tensors, {} elements; {} parameter elements",
            r.tensor_count,
            thousands(r.total_elements),
            thousands(r.parameter_elements)
        ),
    );
    let dts: Vec<String> = r
        .dtypes
        .iter()
        .map(|(d, n)| format!("{d} {}", thousands(*n)))
        .collect();
    kv(&mut out, style, "dtypes", &dts.join(", "));
    for (k, v) in r.metadata.iter().take(12) {
        kv(&mut out, style, "meta", &format!("{k} = {v}"));
    }
    heading(&mut out, style, 3, &format!("Layers ({})", r.layers.len()));
    let lrows: Vec<Vec<String>> = r
        .layers
        .iter()
        .take(if rows == 0 { usize::MAX } else { rows })
        .map(|l| {
            vec![
                if l.name.is_empty() {
                    "(root)".into()
                } else {
                    l.name.clone()
                },
                l.kind.clone(),
                l.weight_shape.as_deref().map(ushape).unwrap_or_default(),
                thousands(l.params),
                l.dtypes.join("/"),
                l.weight_std.map(num).unwrap_or_default(),
                l.weight_max_abs.map(num).unwrap_or_default(),
                l.non_finite.to_string(),
                pct(l.zero_fraction),
            ]
        })
        .collect();
    table(
        &mut out,
        style,
        &[
            "layer", "kind", "weight", "params", "dtype", "w std", "w max|x|", "NaN/Inf", "zeros",
        ],
        &lrows,
    );
    heading(
        &mut out,
        style,
        3,
        &format!("Tensors ({})", r.tensors.len()),
    );
    let trows: Vec<Vec<String>> = r
        .tensors
        .iter()
        .take(if rows == 0 {
            usize::MAX
        } else {
            rows.saturating_mul(3)
        })
        .map(|t| {
            vec![
                t.name.clone(),
                t.dtype.name().to_string(),
                ushape(&t.shape),
                thousands(t.numel),
                num(t.min),
                num(t.max),
                num(t.mean),
                num(t.std),
                format!("{}/{}", t.nan, t.inf),
                pct(t.zero_fraction()),
            ]
        })
        .collect();
    table(
        &mut out,
        style,
        &[
            "tensor", "dtype", "shape", "elements", "min", "max", "mean", "std", "NaN/Inf", "zeros",
        ],
        &trows,
    );
    findings(&mut out, style, &r.findings);
    out
}

pub fn diff(r: &DiffReport, style: Style, rows: usize) -> String {
    let mut out = String::new();
    match style {
        Style::Markdown => {
            let _ = writeln!(out, "## Weight drift: `{}` -> `{}`\n", r.a, r.b);
        }
        Style::Text => {
            let _ = writeln!(out, "weight drift {} -> {}", r.a, r.b);
        }
    }
    let total = r.frozen_params.saturating_add(r.trained_params).max(1);
    kv(
        &mut out,
        style,
        "matched",
        &format!(
            "{} tensors; {} of {} weight elements changed ({}), {} unchanged (frozen)",
            r.matched,
            thousands(r.trained_params),
            thousands(total),
            pct(r.trained_params as f64 / total as f64),
            thousands(r.frozen_params)
        ),
    );
    if !r.only_in_a.is_empty() {
        kv(&mut out, style, "only in A", &r.only_in_a.join(", "));
    }
    if !r.only_in_b.is_empty() {
        kv(&mut out, style, "only in B", &r.only_in_b.join(", "));
    }
    for (n, a, b) in &r.shape_changed {
        kv(
            &mut out,
            style,
            "reshaped",
            &format!("{n}: {} -> {}", ushape(a), ushape(b)),
        );
    }
    heading(
        &mut out,
        style,
        3,
        "Layers by relative L2 drift ||B-A|| / ||A||",
    );
    let lrows: Vec<Vec<String>> = r
        .layers
        .iter()
        .take(if rows == 0 { usize::MAX } else { rows })
        .map(|l| {
            vec![
                if l.name.is_empty() {
                    "(root)".into()
                } else {
                    l.name.clone()
                },
                thousands(l.params),
                num(l.relative_drift),
                if l.frozen {
                    "frozen".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    table(&mut out, style, &["layer", "params", "drift", ""], &lrows);
    out
}
