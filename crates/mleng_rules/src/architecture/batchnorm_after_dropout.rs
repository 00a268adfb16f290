use std::collections::HashSet;

use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::layers::{is_elementwise, kind, LayerKind};
use ruff_python_ast::ExprCall;
use ruff_text_size::{Ranged, TextRange};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC001",
    name: "batchnorm-after-dropout",
    area: Area::Architecture,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary: "BatchNorm normalizes the output of Dropout: its running statistics will not match eval mode.",
    docs: r#"## What it does
Finds a BatchNorm layer that receives the output of a Dropout layer, directly or through
element-wise layers (activations, `Flatten`): in `nn.Sequential(...)` (nested ones included)
and in the order `forward` applies a module's layers (`x = self.drop(x)` then `self.bn(x)`).

## Why is this bad?
In training, Dropout zeroes units and rescales the rest by `1/(1-p)`, which changes the
variance of its output; in evaluation it is the identity. BatchNorm placed after it learns
running statistics under the training-time variance and then normalizes evaluation inputs
with them. Li et al. call this the *variance shift* and show it costs accuracy; the usual fix
is to put Dropout after BatchNorm (or only after the last BatchNorm). On small tasks the
effect can be negligible (we measured no difference on a digits MLP), hence a warning.

## Example
```python
head = nn.Sequential(
    nn.Linear(512, 256),
    nn.Dropout(0.5),
    nn.BatchNorm1d(256),
    nn.ReLU(),
)
```

## Use instead
```python
head = nn.Sequential(
    nn.Linear(512, 256),
    nn.BatchNorm1d(256),
    nn.ReLU(),
    nn.Dropout(0.5),
)
```

## Fix
Unsafe: Dropout is moved after BatchNorm. The layer indices of the `nn.Sequential` change, so
old checkpoints no longer load into it by key.

## References
- Li, Chen, Hu, Yang. *Understanding the Disharmony between Dropout and Batch Normalization by
  Variance Shift*, CVPR 2019. <https://arxiv.org/abs/1801.05134>
- PyTorch `nn.Dropout` and `nn.BatchNorm1d` docs (train vs. eval behaviour).
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let mut reported: HashSet<TextRange> = HashSet::new();
    // 1. Inside nn.Sequential(...) calls.
    for call in index.calls.iter().filter(|c| index.is_sequential(c.expr)) {
        let items = index.sequential_items(call.expr);
        let mut run: Vec<&ExprCall> = Vec::new(); // dropout, then element-wise layers
        for item in items {
            let Some(layer) = item else {
                run.clear();
                continue;
            };
            let layer_kind = index
                .qualified_name(&layer.func)
                .map_or(LayerKind::Other, |q| kind(&q));
            match layer_kind {
                LayerKind::Dropout => {
                    run.clear();
                    run.push(layer);
                }
                LayerKind::BatchNorm if !run.is_empty() => {
                    if reported.insert(layer.range()) {
                        report_sequential(ctx, &run, layer);
                    }
                    run.clear();
                }
                k if is_elementwise(k) && !run.is_empty() => run.push(layer),
                _ => run.clear(),
            }
        }
    }
    // 2. In forward order: BatchNorm applied to a value that came from Dropout.
    for (class_id, class) in index.classes.iter().enumerate() {
        if !class.is_module {
            continue;
        }
        for layer_use in index.forward_uses(class_id) {
            if kind(&layer_use.op) != LayerKind::BatchNorm {
                continue;
            }
            let bn_call = &index.calls[layer_use.call];
            let Some(mut input) = bn_call.arg(0) else {
                continue;
            };
            let mut current = bn_call.start();
            let mut found = None;
            for _ in 0..6 {
                let Some(producer) = index.producer(bn_call.function, input, current) else {
                    break;
                };
                let producer_call = &index.calls[producer];
                let op = op_of(ctx, class_id, producer);
                match op.as_deref().map(kind) {
                    Some(LayerKind::Dropout) => {
                        found = Some(producer);
                        break;
                    }
                    Some(k) if is_elementwise(k) => {
                        let Some(next) = producer_call.arg(0) else {
                            break;
                        };
                        input = next;
                        current = producer_call.start();
                    }
                    _ => break,
                }
            }
            if let Some(dropout) = found {
                if reported.insert(bn_call.range()) {
                    let drop_call = &index.calls[dropout];
                    let bn_text = ctx.text(bn_call.expr.func.range()).to_string();
                    let drop_text = ctx.text(drop_call.expr.func.range()).to_string();
                    let bn_ctor = short(&layer_use.op);
                    let drop_ctor = op_of(ctx, class_id, dropout)
                        .map(|o| short(&o))
                        .unwrap_or_default();
                    let message = format!(
                        "`{bn_text}` ({bn_ctor}) in `{}.forward` normalizes the output of `{drop_text}` ({drop_ctor}): BatchNorm's running statistics are learned under Dropout's training-time variance and will not match eval mode",
                        class.name
                    );
                    let fix =
                        Fix::new("Apply BatchNorm before Dropout (BN -> activation -> Dropout)")
                            .with_example(format!(
                                "x = {bn_text}(x)\nx = F.relu(x)\nx = {drop_text}(x)"
                            ));
                    let evidence = format!(
                        "Dropout applied at {}: `{}`",
                        ctx.where_is(drop_call.range()),
                        ctx.text(drop_call.range())
                    );
                    ctx.report(bn_call.range(), message, Some(fix))
                        .evidence
                        .push(evidence);
                }
            }
        }
    }
}

/// The layer constructor or functional op a call applies, inside a module's forward.
fn op_of(ctx: &Context, class: usize, call: usize) -> Option<String> {
    let index = ctx.index;
    let call = &index.calls[call];
    if let Some(attr) = mleng_python::index::literals::dotted(&call.expr.func)
        .as_deref()
        .and_then(|d| d.strip_prefix("self."))
    {
        return index.layer(class, attr).and_then(|l| l.constructor.clone());
    }
    call.qualified.clone()
}

fn short(qualified: &str) -> String {
    let name = qualified.rsplit('.').next().unwrap_or(qualified);
    if qualified.starts_with("torch.nn.functional.") {
        format!("F.{name}")
    } else {
        format!("nn.{name}")
    }
}

fn report_sequential(ctx: &mut Context, run: &[&ExprCall], bn: &ExprCall) {
    let dropout = run[0];
    let between = &run[1..];
    let dropout_text = ctx.text(dropout.range()).to_string();
    let bn_text = ctx.text(bn.range()).to_string();
    // Same items, BatchNorm first and Dropout last, keeping the original separators so a
    // multi-line Sequential stays multi-line.
    let mut items: Vec<&ExprCall> = run.to_vec();
    items.push(bn);
    let separators: Vec<&str> = items
        .windows(2)
        .map(|w| ctx.text(TextRange::new(w[0].range().end(), w[1].range().start())))
        .collect();
    let mut order: Vec<&ExprCall> = vec![bn];
    order.extend(between.iter().copied());
    order.push(dropout);
    let mut replacement = String::new();
    for (i, item) in order.iter().enumerate() {
        replacement.push_str(ctx.text(item.range()));
        if let Some(sep) = separators.get(i) {
            replacement.push_str(sep);
        }
    }
    let message = format!(
        "`{bn_text}` follows `{dropout_text}` in nn.Sequential: BatchNorm's running statistics are learned under Dropout's training-time variance and will not match eval mode"
    );
    let fix =
        Fix::new("Move Dropout after BatchNorm (and its activation)").with_replacement(replacement);
    let range = TextRange::new(dropout.range().start(), bn.range().end());
    ctx.report(range, message, Some(fix));
}
