use std::collections::HashSet;

use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::layers::{kind, LayerKind};
use mleng_python::index::literals::{boolean, number, numbers};
use mleng_python::SemanticIndex;
use ruff_python_ast::ExprCall;
use ruff_text_size::{Ranged, TextRange};

use super::flow::same_block;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC006",
    name: "missing-nonlinearity",
    area: Area::Architecture,
    severity: Severity::Warning,
    fix: None,
    summary: "Two Linear/Conv layers in a row with no activation between them compose into a single linear map.",
    docs: r#"## What it does
Finds two affine layers (`Linear`, or `Conv1d/2d/3d` with a 1x1 kernel) applied one after the
other with nothing nonlinear between them (only Dropout, `Flatten` or `Identity`): consecutive
items of an `nn.Sequential(...)`, or in `forward` (`x = self.fc1(x)` then `x = self.fc2(x)`,
or `self.fc2(self.fc1(x))`).

Deliberate factorizations are not reported: a first layer created with `bias=False` (low-rank
adapters such as LoRA's `lora_A`/`lora_B`) or with `groups=` other than 1 (depthwise then
pointwise convolution). Convolutions with larger kernels are left alone: two stacked linear
convolutions factorize a larger kernel (a 1x1 projection then a strided resampling conv, as in
DPT), which can be a deliberate design.

## Why is this bad?
The composition of two affine maps is one affine map: `W2 (W1 x + b1) + b2 = (W2 W1) x +
(W2 b1 + b2)`. Without an activation between them the two layers can express nothing that a
single layer cannot; the extra depth only adds parameters and compute, and the network is
less expressive than its author thinks (an "MLP" head that is really a linear classifier).
Usually an activation was forgotten, e.g. when a `nn.ReLU()` line was deleted or Dropout was
put where the activation belonged.

## Example
```python
head = nn.Sequential(
    nn.Linear(2048, 512),
    nn.Dropout(0.3),
    nn.Linear(512, num_classes),
)
```

## Use instead
```python
head = nn.Sequential(
    nn.Linear(2048, 512),
    nn.ReLU(),
    nn.Dropout(0.3),
    nn.Linear(512, num_classes),
)
```

## Known problems
A deliberate low-rank projection written with a bias on the first layer is reported; write
it with `bias=False` (its bias is redundant anyway) or suppress the finding.

## References
- Goodfellow, Bengio, Courville, *Deep Learning*, section 6.1 (a composition of linear functions is linear; why hidden units need a nonlinearity): <https://www.deeplearningbook.org/contents/mlp.html>
- PyTorch `nn.Sequential` and `nn.ReLU` docs: <https://pytorch.org/docs/stable/generated/torch.nn.Sequential.html>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let mut reported: HashSet<TextRange> = HashSet::new();
    // 1. nn.Sequential(...)
    for call in index.calls.iter().filter(|c| index.is_sequential(c.expr)) {
        let mut previous: Option<&ExprCall> = None;
        for item in index.sequential_items(call.expr) {
            let Some(layer) = item else {
                previous = None;
                continue;
            };
            let layer_kind = layer_kind(index, layer);
            match layer_kind {
                LayerKind::Affine if is_plain_affine(index, layer) => {
                    if let Some(first) = previous {
                        if !is_factorization(first) && reported.insert(layer.range()) {
                            report(ctx, first, layer, None);
                        }
                    }
                    previous = Some(layer);
                }
                LayerKind::Dropout | LayerKind::Reshape => {}
                _ => previous = None,
            }
        }
    }
    // 2. forward order.
    for (class_id, class) in index.classes.iter().enumerate() {
        if !class.is_module {
            continue;
        }
        let uses = index.forward_uses(class_id);
        for second_use in &uses {
            let Some(attr) = second_use.attr.as_deref() else {
                continue;
            };
            if kind(&second_use.op) != LayerKind::Affine {
                continue;
            }
            let Some(second_layer) = index.layer(class_id, attr) else {
                continue;
            };
            if !is_plain_affine(index, second_layer.call) {
                continue;
            }
            let second_call = &index.calls[second_use.call];
            let Some(mut input) = second_call.arg(0) else {
                continue;
            };
            let mut current = second_call.start();
            let mut current_call = second_use.call;
            let mut first = None;
            for _ in 0..4 {
                let Some(producer) = index.producer(second_call.function, input, current) else {
                    break;
                };
                let Some(producer_use) = uses.iter().find(|u| u.call == producer) else {
                    break;
                };
                let producer_call = &index.calls[producer];
                if !same_block(
                    ctx,
                    producer_call.range(),
                    index.calls[current_call].range(),
                ) {
                    break;
                }
                current_call = producer;
                match kind(&producer_use.op) {
                    LayerKind::Affine => {
                        first = producer_use.attr.as_deref().map(|a| (a, producer));
                        break;
                    }
                    LayerKind::Dropout | LayerKind::Reshape if producer_use.attr.is_some() => {
                        let Some(next) = producer_call.arg(0) else {
                            break;
                        };
                        input = next;
                        current = producer_call.start();
                    }
                    _ => break,
                }
            }
            let Some((first_attr, first_call_id)) = first else {
                continue;
            };
            let Some(first_layer) = index.layer(class_id, first_attr) else {
                continue;
            };
            if !is_plain_affine(index, first_layer.call) || is_factorization(first_layer.call) {
                continue;
            }
            if reported.insert(second_call.range()) {
                let first_call = &index.calls[first_call_id];
                let evidence = format!(
                    "in `{}.forward`: `{}` at {}, then `{}` at {}",
                    class.name,
                    ctx.text(first_call.range()),
                    ctx.where_is(first_call.range()),
                    ctx.text(second_call.range()),
                    ctx.where_is(second_call.range()),
                );
                let first_text = ctx.text(first_call.expr.func.range()).to_string();
                let second_text = ctx.text(second_call.expr.func.range()).to_string();
                let message = format!(
                    "`{second_text}` is applied to the output of `{first_text}` with no activation between them (`{}` then `{}`): two affine layers compose into one linear map",
                    ctx.text(first_layer.call.range()),
                    ctx.text(second_layer.call.range()),
                );
                let fix = Fix::new("Apply an activation between the two layers").with_example(
                    format!("x = {first_text}(x)\nx = F.relu(x)\nx = {second_text}(x)"),
                );
                ctx.report(second_call.range(), message, Some(fix))
                    .evidence
                    .push(evidence);
            }
        }
    }
}

fn layer_kind(index: &SemanticIndex, call: &ExprCall) -> LayerKind {
    index
        .qualified_name(&call.func)
        .map_or(LayerKind::Other, |q| kind(&q))
}

/// `Linear`, and convolutions with a literal 1x1 kernel (a per-position Linear). Larger
/// kernels stacked without an activation are a factorization of a bigger kernel (projection
/// then resampling, as in DPT's reassemble stage), a design choice rather than an
/// oversight; `Bilinear` is not linear in its two inputs together.
fn is_plain_affine(index: &SemanticIndex, call: &ExprCall) -> bool {
    let Some(q) = index.qualified_name(&call.func) else {
        return false;
    };
    if kind(&q) != LayerKind::Affine {
        return false;
    }
    let short = q.rsplit('.').next().unwrap_or(&q);
    match short {
        "Linear" | "LazyLinear" => true,
        "Conv1d" | "Conv2d" | "Conv3d" => {
            let kernel = call
                .arguments
                .keywords
                .iter()
                .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "kernel_size"))
                .map(|k| &k.value)
                .or_else(|| call.arguments.args.get(2));
            kernel
                .and_then(numbers)
                .is_some_and(|ks| !ks.is_empty() && ks.iter().all(|&k| k == 1.0))
        }
        _ => false,
    }
}

/// `bias=False` (low-rank factorization) or grouped/depthwise convolution.
fn is_factorization(call: &ExprCall) -> bool {
    call.arguments.keywords.iter().any(|k| {
        let Some(arg) = k.arg.as_ref() else {
            return true; // **kwargs: unknown
        };
        match arg.as_str() {
            "bias" => boolean(&k.value) != Some(true),
            "groups" => number(&k.value) != Some(1.0),
            _ => false,
        }
    }) || call.arguments.args.len() > 6
}

fn report(ctx: &mut Context, first: &ExprCall, second: &ExprCall, evidence: Option<String>) {
    let first_text = ctx.text(first.range()).to_string();
    let second_text = ctx.text(second.range()).to_string();
    let message = format!(
        "`{second_text}` follows `{first_text}` in nn.Sequential with no activation between them: two affine layers compose into one linear map"
    );
    let range = TextRange::new(first.range().start(), second.range().end());
    let between = ctx.text(TextRange::new(first.range().end(), second.range().start()));
    let separator = if between.contains('\n') {
        format!(",\n{}", ctx.indent_of(second.range()))
    } else {
        ", ".to_string()
    };
    let nn = ctx
        .text(first.func.range())
        .rsplit_once('.')
        .map_or(String::new(), |(m, _)| format!("{m}."));
    let fix = Fix::new("Insert an activation after the first layer").with_example(format!(
        "{first_text}{separator}{nn}ReLU(){separator}{second_text}"
    ));
    let finding = ctx.report(range, message, Some(fix));
    if let Some(evidence) = evidence {
        finding.evidence.push(evidence);
    }
}
