use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::backbones::{self, Head};
use mleng_python::index::literals::{number, string};
use mleng_python::index::Binding;
use mleng_python::SemanticIndex;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC007",
    name: "head-in-features-mismatch",
    area: Area::Architecture,
    severity: Severity::Error,
    fix: Some(Applicability::Safe),
    summary:
        "A replacement classifier head's input width does not match the backbone's feature width.",
    docs: r#"## What it does
Finds the classifier head of a known torchvision or timm backbone replaced by an `nn.Linear`
(or an `nn.Sequential` starting with one) whose literal `in_features` differs from the width the
backbone produces: `model = torchvision.models.resnet50(...)` then
`model.fc = nn.Linear(512, 10)` (resnet50 gives 2048 features). The table of heads and widths
(`fc`, `classifier[1]`, `heads.head`, ...) lives in `mleng_knowledge::backbones` with its sources.

## Why is this bad?
The first forward pass fails with `RuntimeError: mat1 and mat2 shapes cannot be multiplied
(Nx2048 and 512x10)`, typically after the dataset, the dataloader workers and the pretrained
weights have been loaded, or on a cluster after the job waited in the queue. The widths differ
between sizes of one family (resnet18/34: 512, resnet50 and up: 2048; efficientnet_b0: 1280,
b3: 1536), so a head copied from another variant is a common mistake.

## Example
```python
model = torchvision.models.resnet50(weights="IMAGENET1K_V2")
model.fc = nn.Linear(512, num_classes)
```

## Use instead
```python
model = torchvision.models.resnet50(weights="IMAGENET1K_V2")
model.fc = nn.Linear(model.fc.in_features, num_classes)
```

## Fix
Safe: the head's `in_features` becomes the backbone's output width; the code as written fails
with a shape error at the first forward pass.

## References
- torchvision, "Models and pre-trained weights" and the model sources (head widths): <https://pytorch.org/vision/stable/models.html>
- PyTorch tutorial, "Finetuning Torchvision Models" (`model.fc.in_features`): <https://pytorch.org/tutorials/beginner/finetuning_torchvision_models_tutorial.html>
- timm, "Fine-tune / reset_classifier" docs: <https://huggingface.co/docs/timm/feature_extraction>
"#,
    check,
};

struct Backbone<'i, 'a> {
    binding: &'i Binding<'a>,
    head: &'static Head,
    label: String,
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let backbones: Vec<Backbone> = index
        .bindings
        .iter()
        .filter_map(|b| {
            let Expr::Call(call) = b.value else {
                return None;
            };
            backbone_of(index, call).map(|(head, label)| Backbone {
                binding: b,
                head,
                label,
            })
        })
        .collect();
    if backbones.is_empty() {
        return;
    }
    for binding in &index.bindings {
        let Expr::Call(value) = binding.value else {
            continue;
        };
        let statement = ctx.text(binding.range);
        let Some((lhs, _)) = statement.split_once('=') else {
            continue;
        };
        let lhs: String = lhs.chars().filter(|c| !c.is_whitespace()).collect();
        // The latest binding of the backbone variable before this assignment, in the same scope.
        let Some(backbone) = backbones
            .iter()
            .filter(|bb| {
                lhs == format!("{}.{}", bb.binding.target, bb.head.attr)
                    && bb.binding.range.end() <= binding.range.start()
                    && same_scope(bb.binding, binding)
            })
            .max_by_key(|bb| bb.binding.range.start())
        else {
            continue;
        };
        let var = backbone.binding.target.as_str();
        // The variable must still hold the backbone, unmodified, when its head is replaced.
        let touched = index.bindings.iter().any(|b| {
            b.range.start() > backbone.binding.range.end()
                && b.range.end() <= binding.range.start()
                && same_scope(backbone.binding, b)
                && (b.target == var || b.target.starts_with(&format!("{var}.")))
        });
        if touched {
            continue;
        }
        let Some(linear) = first_linear(index, value) else {
            continue;
        };
        let Some(in_arg) = linear
            .arguments
            .keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "in_features"))
            .map(|k| &k.value)
            .or_else(|| linear.arguments.args.first())
        else {
            continue;
        };
        let Some(given) = number(in_arg) else {
            continue;
        };
        let expected = backbone.head.in_features;
        if given == f64::from(expected) {
            continue;
        }
        let head_path = format!("{var}.{}", backbone.head.attr);
        let message = format!(
            "`{head_path}` is replaced by `{}` taking {given} input features, but {} produces {expected} features there: the first forward pass fails with a shape mismatch",
            ctx.text(linear.range()),
            backbone.label,
        );
        let fix = Fix::new(format!(
            "Use the backbone's width: {expected} (or read `{head_path}.in_features` before replacing it)"
        ))
        .with_replacement(expected.to_string());
        let evidence = format!(
            "`{var}` created at {}: `{}`",
            ctx.where_is(backbone.binding.range),
            ctx.text(backbone.binding.value.range())
        );
        ctx.report(in_arg.range(), message, Some(fix))
            .evidence
            .push(evidence);
    }
}

fn same_scope(a: &Binding, b: &Binding) -> bool {
    if a.target.starts_with("self.") {
        a.class.is_some() && a.class == b.class
    } else {
        a.function == b.function
    }
}

/// `torchvision.models.resnet50(...)`, `models.resnet.resnet50(...)`, `timm.create_model("vit_base_patch16_224")`.
pub(super) fn backbone_of(
    index: &SemanticIndex,
    call: &ExprCall,
) -> Option<(&'static Head, String)> {
    let q = index.qualified_name(&call.func)?;
    if let Some(rest) = q.strip_prefix("torchvision.models.") {
        let name = rest.rsplit('.').next().unwrap_or(rest);
        // Models built for another number of classes keep their backbone width: still fine.
        return backbones::torchvision(name).map(|h| (h, format!("torchvision `{name}`")));
    }
    if q == "timm.create_model" || q == "timm.models.create_model" {
        let name = call
            .arguments
            .keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "model_name"))
            .map(|k| &k.value)
            .or_else(|| call.arguments.args.first())
            .and_then(string)?;
        // `num_classes=0` / `global_pool=""` change the head; a custom head then is the user's.
        let reshaped = call.arguments.keywords.iter().any(|k| {
            k.arg.as_ref().is_some_and(|a| {
                matches!(a.as_str(), "global_pool" | "features_only" | "num_features")
            })
        });
        if reshaped {
            return None;
        }
        return backbones::timm(name).map(|h| (h, format!("timm `{name}`")));
    }
    None
}

/// The head's first Linear: the value itself, or the first item of an `nn.Sequential` when
/// only Dropout/Flatten/Identity come before it.
fn first_linear<'a>(index: &SemanticIndex<'a>, value: &'a ExprCall) -> Option<&'a ExprCall> {
    let short = |call: &ExprCall| {
        index
            .qualified_name(&call.func)
            .and_then(|q| q.strip_prefix("torch.nn.").map(str::to_string))
    };
    if short(value).as_deref() == Some("Linear") {
        return Some(value);
    }
    if !index.is_sequential(value) {
        return None;
    }
    for item in index.sequential_items(value) {
        let item = item?;
        match short(item).as_deref() {
            Some("Linear") => return Some(item),
            Some(
                "Dropout" | "Flatten" | "Identity" | "AdaptiveAvgPool2d" | "ReLU" | "GELU" | "SiLU",
            ) => {}
            _ => return None,
        }
    }
    None
}
