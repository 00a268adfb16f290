use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::layers::{kind, LayerKind};
use ruff_python_ast::ExprCall;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC014",
    name: "deep-plain-stack",
    area: Area::Architecture,
    severity: Severity::Info,
    fix: None,
    summary: "A deep nn.Sequential of weight layers with no normalization (or with only sigmoid/tanh activations): gradients vanish.",
    docs: r#"## What it does
Finds an `nn.Sequential(...)` (nested ones flattened) that stacks
- at least 10 weight layers (`Linear`, convolutions) with no normalization layer
  (BatchNorm, LayerNorm, GroupNorm, ...) anywhere in it, or
- at least 5 weight layers whose activations are all `Sigmoid`/`Tanh`, again without
  normalization.

An `nn.Sequential` cannot hold residual connections, so such a stack is "plain".

## Why is this bad?
Gradients are multiplied by every layer's Jacobian on the way back; without normalization or
skip connections their scale drifts exponentially with depth. He et al. show plain networks
get *worse* with depth (a 34-layer plain net has higher training error than an 18-layer one)
while the residual version improves; Glorot & Bengio show sigmoid networks saturating from 5
layers on, because the sigmoid's derivative is at most 0.25. Training is slow or stalls, and
very sensitive to the initialization and learning rate.

## Example
```python
mlp = nn.Sequential(
    nn.Linear(784, 256), nn.Sigmoid(),
    nn.Linear(256, 256), nn.Sigmoid(),
    nn.Linear(256, 256), nn.Sigmoid(),
    nn.Linear(256, 256), nn.Sigmoid(),
    nn.Linear(256, 10),
)
```

## Use instead
```python
mlp = nn.Sequential(
    nn.Linear(784, 256), nn.LayerNorm(256), nn.GELU(),
    nn.Linear(256, 256), nn.LayerNorm(256), nn.GELU(),
    nn.Linear(256, 256), nn.LayerNorm(256), nn.GELU(),
    nn.Linear(256, 256), nn.LayerNorm(256), nn.GELU(),
    nn.Linear(256, 10),
)
```
(or residual blocks, `x = x + block(x)`, in a module's `forward`).

## References
- He, Zhang, Ren, Sun. *Deep Residual Learning for Image Recognition*, CVPR 2016 (the degradation of plain networks, Fig. 1 and 4): <https://arxiv.org/abs/1512.03385>
- Glorot & Bengio. *Understanding the difficulty of training deep feedforward neural networks*, AISTATS 2010: <https://proceedings.mlr.press/v9/glorot10a.html>
- Ioffe & Szegedy. *Batch Normalization*, ICML 2015: <https://arxiv.org/abs/1502.03167>
"#,
    check,
};

const MIN_PLAIN: usize = 10;
const MIN_SATURATING: usize = 5;

fn check(ctx: &mut Context) {
    let index = ctx.index;
    // Only outermost Sequential calls (nested ones are part of their parent's stack).
    let sequentials: Vec<&ExprCall> = index
        .calls
        .iter()
        .filter(|c| index.is_sequential(c.expr))
        .map(|c| c.expr)
        .collect();
    for call in &sequentials {
        let nested = sequentials.iter().any(|outer| {
            outer.range() != call.range() && outer.range().contains_range(call.range())
        });
        if nested {
            continue;
        }
        let items = index.sequential_items(call);
        if items.iter().any(Option::is_none) {
            continue; // something we cannot see could be a norm layer
        }
        let (mut weights, mut norms, mut activations, mut saturating) = (0, 0, 0, 0);
        for item in items.iter().flatten() {
            let q = index.qualified_name(&item.func).unwrap_or_default();
            match kind(&q) {
                LayerKind::Affine => weights += 1,
                LayerKind::BatchNorm | LayerKind::OtherNorm => norms += 1,
                LayerKind::Activation => {
                    activations += 1;
                    let short = q.rsplit('.').next().unwrap_or(&q);
                    if matches!(short, "Sigmoid" | "Tanh" | "sigmoid" | "tanh") {
                        saturating += 1;
                    }
                }
                // a custom block may contain normalization or a residual connection
                LayerKind::Other if !q.starts_with("torch.nn.") => {
                    weights = 0;
                    break;
                }
                _ => {}
            }
        }
        let all_saturating = activations > 0 && saturating == activations;
        let message = if norms == 0 && weights >= MIN_PLAIN {
            format!(
                "This nn.Sequential stacks {weights} weight layers with no normalization and no skip connections: gradients shrink or explode with depth and plain stacks this deep train worse than shallower ones"
            )
        } else if norms == 0 && all_saturating && weights >= MIN_SATURATING {
            format!(
                "This nn.Sequential stacks {weights} weight layers with only sigmoid/tanh activations: their derivatives (at most 0.25 for sigmoid) multiply layer after layer and the first layers barely learn"
            )
        } else {
            continue;
        };
        let fix = Fix::new(
            "Add normalization (BatchNorm/LayerNorm) after the weight layers, use ReLU/GELU, or use residual blocks",
        );
        // Anchored on `nn.Sequential`, not on the whole (long) call.
        ctx.report(call.func.range(), message, Some(fix));
    }
}
