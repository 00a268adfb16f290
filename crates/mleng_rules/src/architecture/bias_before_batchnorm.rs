use std::collections::HashSet;

use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::layers::{kind, LayerKind};
use mleng_python::index::literals::{boolean, dotted};
use mleng_python::SemanticIndex;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::{Ranged, TextRange};

use super::flow::same_block;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC005",
    name: "bias-before-batchnorm",
    area: Area::Architecture,
    severity: Severity::Info,
    fix: Some(Applicability::Unsafe),
    summary: "A Conv/Linear bias directly followed by BatchNorm is cancelled by BN's mean subtraction: wasted parameters.",
    docs: r#"## What it does
Finds a `Conv1d/2d/3d`, `ConvTranspose*d` or `Linear` layer with a bias (`bias=True`, the
default) whose output goes straight into a BatchNorm layer: consecutive items of an
`nn.Sequential(...)`, or `self.bn(self.conv(x))` / `x = self.conv(x)` then `x = self.bn(x)` in
`forward`.

Several such layers in one model (a ResNet-style class has a dozen) are one finding at the
first, with every layer listed as evidence; a layer whose line says `# noqa: ARC005` is left
out of the group.

## Why is this bad?
BatchNorm subtracts the per-channel mean of its input. A per-channel constant added before
it (the bias) shifts that mean by the same constant and is subtracted right away, in
training (batch mean) and in evaluation (the running mean absorbs it): the output does not
depend on the bias at all, and BN's own `beta` already provides the shift. The bias is
wasted parameters, optimizer state and weight decay, and its gradient is zero. Ioffe &
Szegedy note that the bias "can be ignored" for this reason, and torchvision's ResNet, VGG-BN
and timm's models create such convolutions with `bias=False`. The effect on accuracy is nil:
this is a cleanup (info).

## Example
```python
block = nn.Sequential(
    nn.Conv2d(64, 128, kernel_size=3, padding=1),
    nn.BatchNorm2d(128),
    nn.ReLU(inplace=True),
)
```

## Use instead
```python
block = nn.Sequential(
    nn.Conv2d(64, 128, kernel_size=3, padding=1, bias=False),
    nn.BatchNorm2d(128),
    nn.ReLU(inplace=True),
)
```

## Fix
Unsafe: `bias=False` is added. The model computes the same function family, but the bias
parameter disappears from the state dict, so old checkpoints no longer load strictly.

## References
- Ioffe & Szegedy, *Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift*, ICML 2015, section 3.2: <https://arxiv.org/abs/1502.03167>
- PyTorch performance tuning guide, "Disable bias for convolutions directly followed by a batch norm": <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html#disable-bias-for-convolutions-directly-followed-by-a-batch-norm>
- torchvision ResNet (`conv3x3(..., bias=False)` before `BatchNorm2d`): <https://github.com/pytorch/vision/blob/main/torchvision/models/resnet.py>
"#,
    check,
};

/// One affine layer whose bias a BatchNorm cancels, and the model it belongs to.
struct Found<'a> {
    layer: &'a ExprCall,
    bn: String,
    evidence: Option<String>,
    /// The class (or function) that builds it: repeated findings there are reported once.
    owner: String,
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let mut reported: HashSet<TextRange> = HashSet::new();
    let mut found: Vec<Found> = Vec::new();
    // 1. nn.Sequential(...): an affine layer immediately followed by BatchNorm.
    for call in index.calls.iter().filter(|c| index.is_sequential(c.expr)) {
        let items = index.sequential_items(call.expr);
        for pair in items.windows(2) {
            let (Some(layer), Some(next)) = (pair[0], pair[1]) else {
                continue;
            };
            if !has_default_or_true_bias(index, layer) || !is_batchnorm(index, next) {
                continue;
            }
            if reported.insert(layer.range()) {
                found.push(Found {
                    layer,
                    bn: ctx.text(next.range()).to_string(),
                    evidence: None,
                    owner: owner_of(ctx, call.class, call.function),
                });
            }
        }
    }
    // 2. forward: BatchNorm applied directly to an affine layer's output.
    for (class_id, class) in index.classes.iter().enumerate() {
        if !class.is_module {
            continue;
        }
        let uses = index.forward_uses(class_id);
        for layer_use in &uses {
            if kind(&layer_use.op) != LayerKind::BatchNorm {
                continue;
            }
            let bn_call = &index.calls[layer_use.call];
            let Some(input) = bn_call.arg(0) else {
                continue;
            };
            // Through a name only when the BN result replaces it (`x = self.bn(x)`), so the
            // biased output feeds nothing else.
            if let Expr::Name(name) = input {
                let rebinds = index.bindings.iter().any(|b| {
                    b.function == bn_call.function
                        && b.target == name.id.as_str()
                        && b.value.range() == bn_call.range()
                });
                if !rebinds {
                    continue;
                }
            }
            let Some(producer) = index.producer(bn_call.function, input, bn_call.start()) else {
                continue;
            };
            let Some(affine) = uses.iter().find(|u| u.call == producer) else {
                continue;
            };
            // `x = self.conv(x)` then `if self.use_bn: x = self.bn(x)`: the bias matters when
            // BatchNorm is skipped.
            if !same_block(ctx, index.calls[producer].range(), bn_call.range()) {
                continue;
            }
            let Some(attr) = affine.attr.as_deref() else {
                continue;
            };
            // A layer applied more than once in forward may feed something else too.
            if uses
                .iter()
                .filter(|u| u.attr.as_deref() == Some(attr))
                .count()
                != 1
            {
                continue;
            }
            let Some(layer) = index.layer(class_id, attr) else {
                continue;
            };
            if !has_default_or_true_bias(index, layer.call) {
                continue;
            }
            if reported.insert(layer.call.range()) {
                let bn = ctx.text(bn_call.expr.func.range()).to_string();
                let evidence = format!(
                    "`{}.forward` applies `{bn}` to its output at {}: `{}`",
                    class.name,
                    ctx.where_is(bn_call.range()),
                    ctx.text(bn_call.range())
                );
                found.push(Found {
                    layer: layer.call,
                    bn,
                    evidence: Some(evidence),
                    owner: format!("`{}`", class.name),
                });
            }
        }
    }
    // One finding per model: a ResNet-style class has a dozen such layers, and a dozen
    // identical infos bury everything else. Lines with `# noqa` leave the group first.
    found.retain(|f| !suppressed_here(ctx, f.layer.range()));
    let mut owners: Vec<&str> = Vec::new();
    for f in &found {
        if !owners.contains(&f.owner.as_str()) {
            owners.push(&f.owner);
        }
    }
    for owner in owners {
        let group: Vec<&Found> = found.iter().filter(|f| f.owner == owner).collect();
        match group.as_slice() {
            [one] => report(ctx, one.layer, &one.bn, one.evidence.clone()),
            [first, ..] => report_group(ctx, owner, &group, first.layer),
            [] => {}
        }
    }
}

/// The class that builds a layer (`Net`), else the function (`make_layers()`), else the file.
fn owner_of(ctx: &Context, class: Option<usize>, function: Option<usize>) -> String {
    let index = ctx.index;
    match (class, function) {
        (Some(c), _) => format!("`{}`", index.classes[c].name),
        (None, Some(f)) => format!("`{}()`", index.functions[f].name),
        (None, None) => "this file".to_string(),
    }
}

/// Whether the line of `range` suppresses this rule (`# noqa: ARC005`).
fn suppressed_here(ctx: &Context, range: TextRange) -> bool {
    let source = ctx.index.source;
    let line = source.lines.line_of(range.start());
    crate::engine::line_suppresses(source.lines.line_text(&source.text, line), &RULE)
}

fn report_group(ctx: &mut Context, owner: &str, group: &[&Found], first: &ExprCall) {
    let names: Vec<String> = group
        .iter()
        .map(|f| {
            let text = ctx.text(f.layer.range());
            if text.len() > 40 || text.contains('\n') {
                format!("`{}(...)`", dotted(&f.layer.func).unwrap_or_default())
            } else {
                format!("`{text}`")
            }
        })
        .collect();
    let message = format!(
        "{owner} has {} layers whose bias the BatchNorm right after them cancels (BatchNorm subtracts the per-channel mean): pass `bias=False` to each",
        group.len()
    );
    let fix =
        Fix::new("Create each of these layers with `bias=False`; BatchNorm's beta is the shift");
    let evidence: Vec<String> = group
        .iter()
        .zip(&names)
        .map(|(f, name)| {
            format!(
                "{}: {name} before `{}`",
                ctx.where_is(f.layer.range()),
                f.bn
            )
        })
        .collect();
    let finding = ctx.report(first.range(), message, Some(fix));
    finding.evidence = evidence;
}

fn is_batchnorm(index: &SemanticIndex, call: &ExprCall) -> bool {
    index
        .qualified_name(&call.func)
        .is_some_and(|q| kind(&q) == LayerKind::BatchNorm)
}

/// Position of `bias` among the positional parameters of the affine layers.
fn bias_position(short: &str) -> Option<usize> {
    match short {
        "Linear" => Some(2),
        "Conv1d" | "Conv2d" | "Conv3d" | "ConvTranspose1d" | "ConvTranspose2d"
        | "ConvTranspose3d" => Some(7),
        _ => None,
    }
}

/// A torch affine layer whose bias is on: omitted (default True) or a literal `True`.
fn has_default_or_true_bias(index: &SemanticIndex, call: &ExprCall) -> bool {
    let Some(q) = index.qualified_name(&call.func) else {
        return false;
    };
    if kind(&q) != LayerKind::Affine {
        return false;
    }
    let short = q.rsplit('.').next().unwrap_or(&q);
    let Some(position) = bias_position(short) else {
        return false;
    };
    if call
        .arguments
        .args
        .iter()
        .any(|a| matches!(a, Expr::Starred(_)))
        || call.arguments.keywords.iter().any(|k| k.arg.is_none())
    {
        return false; // *args / **kwargs may set it
    }
    let bias = call
        .arguments
        .keywords
        .iter()
        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "bias"))
        .map(|k| &k.value)
        .or_else(|| call.arguments.args.get(position));
    match bias {
        None => true,
        Some(value) => boolean(value) == Some(true),
    }
}

fn report(ctx: &mut Context, layer: &ExprCall, bn: &str, evidence: Option<String>) {
    let layer_text = ctx.text(layer.range()).to_string();
    let name = dotted(&layer.func).unwrap_or_else(|| "layer".into());
    let message = format!(
        "`{layer_text}` has a bias that `{bn}` right after it cancels (BatchNorm subtracts the per-channel mean): pass `bias=False`"
    );
    let replacement = without_bias(ctx, layer);
    let fix = Fix::new(format!(
        "Create `{name}` with `bias=False`; BatchNorm's beta is the shift"
    ));
    let fix = match replacement {
        Some(code) => fix.with_replacement(code),
        None => fix,
    };
    let finding = ctx.report(layer.range(), message, Some(fix));
    if let Some(evidence) = evidence {
        finding.evidence.push(evidence);
    }
}

/// The layer call with `bias=False`: the `bias=True` keyword replaced, or the keyword added.
fn without_bias(ctx: &Context, layer: &ExprCall) -> Option<String> {
    let text = ctx.text(layer.range());
    let start = layer.range().start();
    if let Some(kw) = layer
        .arguments
        .keywords
        .iter()
        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "bias"))
    {
        let from = usize::from(kw.range().start() - start);
        let to = usize::from(kw.range().end() - start);
        return Some(format!("{}bias=False{}", &text[..from], &text[to..]));
    }
    if layer.arguments.args.iter().any(|a| boolean(a).is_some()) {
        return None; // positional bias=True: leave the rewrite to the user
    }
    let close = text.rfind(')')?;
    let head = text[..close].trim_end();
    let tail = &text[close..];
    if head.ends_with('(') {
        return None;
    }
    if head.ends_with(',') {
        Some(format!("{head} bias=False{tail}"))
    } else {
        Some(format!("{head}, bias=False{tail}"))
    }
}
