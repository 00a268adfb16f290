use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::SemanticIndex;
use ruff_text_size::{TextRange, TextSize};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP003",
    name: "notebook-out-of-order",
    area: Area::Experiment,
    severity: Severity::Info,
    fix: None,
    summary: "A notebook that trains was saved with cells run out of order, or with code cells never run.",
    docs: r#"## What it does
In a notebook that trains a model, reads the saved execution count of each code cell and
reports, once per notebook:
- cells whose execution counts go backwards (cell 5 ran as `[12]`, cell 6 as `[3]`): the saved
  results came from an order that "Run All" does not reproduce;
- code cells that were never run (`[ ]`) between cells that were, in a notebook whose other
  cells have counts: the saved outputs do not include their effect.

A notebook saved with all outputs cleared (no counts at all) is not reported.

## Why is this bad?
A notebook's saved metrics and plots are evidence only if running it top to bottom produces
them. Out-of-order execution leaves hidden state: a variable redefined in a later cell and
used by an earlier one, a model trained twice, a seed set after the data was shuffled. In a
study of about 1.4 million notebooks on GitHub, Pimentel et al. found that about a third had
out-of-order or skipped cells, and that only about 4% of the notebooks they could re-run
reproduced their saved results.

## Example
```text
[1] import torch ...
[7] model = Net()              # re-run after editing
[3] for x, y in loader: ...    # trained the old model
```

## Use instead
Restart the kernel and run all cells (Kernel > Restart & Run All) before saving results, so
the execution counts read 1, 2, 3, ... top to bottom.

## References
- Pimentel, Murta, Braganholo, Freire, "A Large-scale Study about Quality and Reproducibility of Jupyter Notebooks", MSR 2019: <https://doi.org/10.1109/MSR.2019.00077>
- Project Jupyter, "Restart & Run All" (notebook interface docs): <https://jupyter-notebook.readthedocs.io/en/stable/notebook.html#running-code>
"#,
    check,
};

pub(crate) fn notebook_trains(index: &SemanticIndex) -> bool {
    !index.training_loops.is_empty()
        || index.calls.iter().any(|c| {
            c.method == Some("fit")
                && (c
                    .receiver_type
                    .as_deref()
                    .is_some_and(|t| t.ends_with("Trainer"))
                    || c.receiver
                        .as_deref()
                        .is_some_and(|r| r.to_ascii_lowercase().ends_with("trainer")))
        })
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let Some(notebook) = index.source.notebook.as_ref() else {
        return;
    };
    if !notebook_trains(index) {
        return;
    }
    // Code cells with code in them (empty cells are never run and do not matter).
    let cells: Vec<_> = notebook
        .cells
        .iter()
        .filter(|c| !index.text(c.range).trim().is_empty())
        .collect();
    if cells.iter().all(|c| c.execution_count.is_none()) {
        return;
    }
    let mut previous: Option<(u32, i64)> = None;
    for cell in &cells {
        let Some(count) = cell.execution_count else {
            continue;
        };
        if let Some((prev_cell, prev_count)) = previous {
            if count <= prev_count {
                let message = format!(
                    "cell {} ran as [{count}] after cell {prev_cell} ran as [{prev_count}]: the notebook was executed out of order, so its saved results may not come from running it top to bottom",
                    cell.number
                );
                let fix = Fix::new("Restart the kernel and run all cells before saving");
                ctx.report(first_line(cell.range, index), message, Some(fix));
                return;
            }
        }
        previous = Some((cell.number, count));
    }
    // In order; were some code cells between run cells never run?
    let first_run = cells.iter().position(|c| c.execution_count.is_some());
    let last_run = cells.iter().rposition(|c| c.execution_count.is_some());
    if let (Some(first), Some(last)) = (first_run, last_run) {
        let never: Vec<u32> = cells[first..=last]
            .iter()
            .filter(|c| c.execution_count.is_none())
            .map(|c| c.number)
            .collect();
        if let Some(&number) = never.first() {
            let cell = cells.iter().find(|c| c.number == number).copied();
            if let Some(cell) = cell {
                let list = never
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                let message = format!(
                    "code cell {list} never ran although the cells around {} did: the saved outputs do not reflect running the notebook top to bottom",
                    if never.len() == 1 { "it" } else { "them" }
                );
                let fix = Fix::new("Restart the kernel and run all cells before saving");
                ctx.report(first_line(cell.range, index), message, Some(fix));
            }
        }
    }
}

/// The first line of a cell, for the finding's span.
fn first_line(range: TextRange, index: &SemanticIndex) -> TextRange {
    let text = index.text(range);
    let len = text.find('\n').unwrap_or(text.len());
    TextRange::new(range.start(), range.start() + TextSize::from(len as u32))
}
