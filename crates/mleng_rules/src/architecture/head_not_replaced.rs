use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::datasets;
use mleng_python::index::literals::{boolean, dotted, is_none, number};
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;
use ruff_text_size::{Ranged, TextRange};

use super::head_in_features_mismatch::backbone_of;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC012",
    name: "head-not-replaced",
    area: Area::Architecture,
    severity: Severity::Warning,
    fix: None,
    summary: "A pretrained 1000-class ImageNet model is trained on a dataset with another number of classes without replacing its head.",
    docs: r#"## What it does
Finds a torchvision or timm backbone created with pretrained ImageNet weights
(`resnet50(weights=...)`, `timm.create_model(name, pretrained=True)`) and without
`num_classes`, that the file trains (an optimizer over `model.parameters()`) for a dataset with
another number of classes, where the code shows that number: a `torchvision.datasets` class with
a known class count (`CIFAR10`: 10, `Flowers102`: 102, ...) or a literal
`num_classes = N` / `NUM_CLASSES = N` / `n_classes = N`. The head counts as replaced when the
file touches it at all (`model.fc = ...`, `model.fc.in_features`, `model.reset_classifier(...)`),
assigns any attribute of the model, or passes the model into a container (`nn.Sequential(model,
...)`).

## Why is this bad?
The model still predicts 1000 ImageNet classes. With integer labels below 1000 the loss runs
without an error, so nothing signals the mistake: the network spends its capacity on 990
classes that never occur, starts from the ImageNet class scores (label 0 is "tench"), its
`argmax` can return indices that are not classes of the dataset, and saved predictions,
confusion matrices and exported models have the wrong shape. The standard fine-tuning
recipe replaces the classifier with one of `num_classes` outputs.

## Example
```python
model = torchvision.models.resnet50(weights="IMAGENET1K_V2")
train_set = torchvision.datasets.CIFAR10("data", train=True, download=True)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
```

## Use instead
```python
model = torchvision.models.resnet50(weights="IMAGENET1K_V2")
model.fc = nn.Linear(model.fc.in_features, 10)
train_set = torchvision.datasets.CIFAR10("data", train=True, download=True)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
```

## References
- PyTorch tutorial, "Finetuning Torchvision Models" (reshaping the final layer to `num_classes`): <https://pytorch.org/tutorials/beginner/finetuning_torchvision_models_tutorial.html>
- PyTorch tutorial, "Transfer Learning for Computer Vision": <https://pytorch.org/tutorials/beginner/transfer_learning_tutorial.html>
- timm, `create_model(..., num_classes=N)` / `reset_classifier`: <https://huggingface.co/docs/timm/quickstart>
- torchvision datasets (class counts): <https://pytorch.org/vision/stable/datasets.html>
"#,
    check,
};

const COUNT_NAMES: &[&str] = &[
    "num_classes",
    "n_classes",
    "nb_classes",
    "NUM_CLASSES",
    "N_CLASSES",
    "NB_CLASSES",
];

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let Some((classes, evidence_range)) = class_count(index) else {
        return;
    };
    if classes == 1000 {
        return;
    }
    for binding in &index.bindings {
        let Expr::Call(call) = binding.value else {
            continue;
        };
        let var = binding.target.as_str();
        if var.contains('.') {
            continue; // `self.backbone = ...`: the enclosing module usually adds its own head
        }
        let Some((head, label)) = backbone_of(index, call) else {
            continue;
        };
        let keyword = |name: &str| {
            call.arguments
                .keywords
                .iter()
                .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
                .map(|k| &k.value)
        };
        let pretrained = keyword("weights").is_some_and(|w| !is_none(w))
            || keyword("pretrained").and_then(boolean) == Some(true);
        if !pretrained || keyword("num_classes").is_some() {
            continue;
        }
        if call.arguments.keywords.iter().any(|k| k.arg.is_none()) {
            continue; // **kwargs may carry num_classes
        }
        if touched(ctx, var, head.attr) || !trained(index, var, binding) {
            continue;
        }
        let head_root = head.attr.split(['.', '[']).next().unwrap_or(head.attr);
        let head_path = format!("{var}.{}", head.attr);
        let message = format!(
            "`{var}` is {label} with pretrained ImageNet weights and its 1000-class head `{head_path}`, but the code trains it for {classes} classes (`{}`) and never replaces the head",
            ctx.text(evidence_range)
        );
        let example = if label.starts_with("timm") {
            let text = ctx.text(call.range());
            match text.rfind(')') {
                Some(close) => format!(
                    "{var} = {}, num_classes={classes})",
                    text[..close].trim_end().trim_end_matches(',')
                ),
                None => format!("{var} = {text}"),
            }
        } else {
            format!("{head_path} = nn.Linear({head_path}.in_features, {classes})")
        };
        let fix = Fix::new(format!(
            "Replace the classifier (`{var}.{head_root}`) with one of {classes} outputs"
        ))
        .with_example(example);
        let evidence = format!(
            "{classes} classes from {}: `{}`",
            ctx.where_is(evidence_range),
            ctx.text(evidence_range)
        );
        ctx.report(call.range(), message, Some(fix))
            .evidence
            .push(evidence);
    }
}

/// The dataset's class count the code shows, and where.
fn class_count(index: &SemanticIndex) -> Option<(u32, TextRange)> {
    for call in &index.calls {
        if let Some(count) = call.qualified.as_deref().and_then(datasets::class_count) {
            return Some((count, call.range()));
        }
    }
    for binding in &index.bindings {
        if COUNT_NAMES.contains(&binding.target.as_str()) {
            if let Some(n) = number(binding.value) {
                if n >= 2.0 && n.fract() == 0.0 {
                    return Some((n as u32, binding.range));
                }
            }
        }
    }
    None
}

/// The file does anything to the model that could replace or bypass its head.
fn touched(ctx: &Context, var: &str, head_attr: &str) -> bool {
    let index = ctx.index;
    let prefix = format!("{var}.");
    if index.bindings.iter().any(|b| b.target.starts_with(&prefix)) {
        return true;
    }
    let head_root = head_attr.split(['.', '[']).next().unwrap_or(head_attr);
    let text = index.source.text.as_str();
    for needle in [
        format!("{var}.{head_root}"),
        format!("{var}.reset_classifier"),
        format!("{var}.children"),
        format!("{var}.named_children"),
        format!("{var}.modules"),
    ] {
        if text.contains(&needle) {
            return true;
        }
    }
    // Passed into a container or a feature extractor.
    index.calls.iter().any(|c| {
        let into_module = c.qualified.as_deref().is_some_and(|q| {
            q.starts_with("torch.nn.")
                || q.contains("feature_extraction")
                || q.contains("IntermediateLayerGetter")
        }) || dotted(&c.expr.func)
            .is_some_and(|d| index.classes.iter().any(|cl| cl.is_module && cl.name == d));
        into_module
            && c.argument_values()
                .any(|a| dotted(a).as_deref() == Some(var))
    })
}

/// An optimizer is built over the model's parameters.
/// An optimizer is built over `var.parameters()`, and not only earlier in the same scope than
/// this binding: a notebook that trains its own `model` and at the end rebinds `model` to a
/// pretrained network to look at its filters does not train that one.
fn trained(index: &SemanticIndex, var: &str, binding: &mleng_python::index::Binding) -> bool {
    let params = format!("{var}.parameters");
    let named = format!("{var}.named_parameters");
    index.calls.iter().any(|c| {
        let before_in_scope = c.function == binding.function && c.start() < binding.range.start();
        !before_in_scope
            && c.qualified.as_deref().is_some_and(|q| {
                q.starts_with("torch.optim.")
                    && q.rsplit('.')
                        .next()
                        .is_some_and(|s| s.starts_with(|ch: char| ch.is_ascii_uppercase()))
            })
            && c.arg(0).is_some_and(|a| {
                let text = index.text(a.range());
                text.starts_with(&params) || text.starts_with(&named)
            })
    })
}
