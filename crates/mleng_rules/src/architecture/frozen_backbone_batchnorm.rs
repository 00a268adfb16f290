use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::backbones;
use mleng_python::index::literals::boolean;
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;
use ruff_text_size::{Ranged, TextRange};

use super::head_in_features_mismatch::backbone_of;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC013",
    name: "frozen-backbone-batchnorm",
    area: Area::Architecture,
    severity: Severity::Info,
    fix: None,
    summary: "A frozen (requires_grad=False) BatchNorm backbone is trained in train() mode: its running statistics still change.",
    docs: r#"## What it does
Finds a pretrained torchvision/timm backbone that contains BatchNorm (ResNet, EfficientNet,
MobileNet, DenseNet, ...) frozen with `requires_grad = False` (a loop over its
`.parameters()` or `requires_grad_(False)`), then trained with `model.train()` and an
optimizer, where nothing in the file puts the frozen part back in eval mode (no
`model.backbone.eval()`, no `m.eval()` over its modules, no overridden `train()`, no
`FrozenBatchNorm2d` or `track_running_stats`).

## Why is this bad?
`requires_grad = False` stops gradient updates of BatchNorm's weight and bias, but not its
running mean and variance: in `train()` mode every forward pass still overwrites them with the
new dataset's batch statistics (momentum 0.1), and normalizes with the batch's statistics
instead of the stored ones. The "frozen" features drift away from what the head was trained
on, and evaluation (which uses the drifted running statistics) can differ from training; with
small fine-tuning batches the statistics are also noisy. Detectron2 (`FrozenBatchNorm2d`),
MMDetection (`norm_eval=True`) and the Keras transfer-learning guide keep BatchNorm in
inference mode for a frozen backbone. Sometimes adapting the statistics is wanted, hence info.

## Example
```python
model = torchvision.models.resnet50(weights="IMAGENET1K_V2")
for p in model.parameters():
    p.requires_grad = False
model.fc = nn.Linear(2048, 10)
model.train()
```

## Use instead
```python
model = torchvision.models.resnet50(weights="IMAGENET1K_V2")
for p in model.parameters():
    p.requires_grad = False
model.fc = nn.Linear(2048, 10)
model.train()
for m in model.modules():
    if isinstance(m, nn.BatchNorm2d):
        m.eval()  # keep the pretrained running statistics
```

## References
- PyTorch `nn.BatchNorm2d` (running statistics are updated in training mode, whatever `requires_grad`): <https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html>
- Keras, "Transfer learning & fine-tuning", BatchNormalization in inference mode when frozen: <https://keras.io/guides/transfer_learning/>
- Detectron2 `FrozenBatchNorm2d`: <https://detectron2.readthedocs.io/en/latest/modules/layers.html#detectron2.layers.FrozenBatchNorm2d>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let text = index.source.text.as_str();
    // Anything that handles BatchNorm mode or statistics explicitly.
    if [
        "FrozenBatchNorm",
        "track_running_stats",
        "norm_eval",
        "def train(self",
    ]
    .iter()
    .any(|needle| text.contains(needle))
    {
        return;
    }
    for binding in &index.bindings {
        let Expr::Call(call) = binding.value else {
            continue;
        };
        let var = binding.target.as_str();
        if var.contains('.') {
            continue;
        }
        let Some((head, label)) = backbone_of(index, call) else {
            continue;
        };
        if !backbones::has_batchnorm(head.model) {
            continue;
        }
        let Some(freeze) = freezing(ctx, var) else {
            continue;
        };
        // `model.train()` is called and an optimizer trains the model.
        let train_call = index.calls.iter().find(|c| {
            c.receiver.as_deref() == Some(var)
                && c.method == Some("train")
                && c.expr.arguments.args.first().and_then(boolean) != Some(false)
        });
        let Some(train_call) = train_call else {
            continue;
        };
        if !optimized(index, var) {
            continue;
        }
        // Any eval() other than the whole model's (validation) may be the fix: stay silent.
        let other_eval = index
            .calls
            .iter()
            .any(|c| c.method == Some("eval") && c.receiver.as_deref() != Some(var));
        if other_eval {
            continue;
        }
        let message = format!(
            "`{var}` ({label}, with BatchNorm) is frozen with requires_grad=False at {} but trained in `{var}.train()` mode: BatchNorm's running mean and variance still update from every batch, so the frozen features drift",
            ctx.where_is(freeze)
        );
        let fix = Fix::new("After `.train()`, put the frozen BatchNorm layers back in eval mode")
            .with_example(format!(
                "{var}.train()\nfor m in {var}.modules():\n    if isinstance(m, nn.BatchNorm2d):\n        m.eval()"
            ));
        let evidence = format!(
            "`{}` at {}",
            ctx.text(train_call.range()),
            ctx.where_is(train_call.range())
        );
        ctx.report(train_call.range(), message, Some(fix))
            .evidence
            .push(evidence);
    }
}

/// Where `var` (or a part of it) is frozen: `p.requires_grad = False` in a loop over
/// `var...parameters()`, or `var...requires_grad_(False)`.
fn freezing(ctx: &Context, var: &str) -> Option<TextRange> {
    let index = ctx.index;
    let prefix = format!("{var}.");
    for call in &index.calls {
        if call.method == Some("requires_grad_")
            && call
                .receiver
                .as_deref()
                .is_some_and(|r| r == var || r.starts_with(&prefix))
            && call.expr.arguments.args.first().and_then(boolean) == Some(false)
        {
            return Some(call.range());
        }
    }
    for binding in &index.bindings {
        if !binding.target.ends_with(".requires_grad") || boolean(binding.value) != Some(false) {
            continue;
        }
        let in_loop_over_var = index.loops.iter().any(|lp| {
            lp.range.contains_range(binding.range) && {
                let header = ctx.text(lp.header);
                header.contains(&prefix) && header.contains("parameters(")
            }
        });
        if in_loop_over_var {
            return Some(binding.range);
        }
    }
    None
}

fn optimized(index: &SemanticIndex, var: &str) -> bool {
    index.calls.iter().any(|c| {
        c.qualified
            .as_deref()
            .is_some_and(|q| q.starts_with("torch.optim."))
            && c.expr
                .arguments
                .args
                .first()
                .is_some_and(|a| index.text(a.range()).contains(&format!("{var}.")))
    })
}
