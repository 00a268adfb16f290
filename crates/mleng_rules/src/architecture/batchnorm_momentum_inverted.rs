use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::layers::{kind, LayerKind};
use mleng_python::index::literals::{dotted, number};
use mleng_python::index::Call;
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC016",
    name: "batchnorm-momentum-inverted",
    area: Area::Architecture,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary: "A BatchNorm `momentum` of 0.5 or more (0.9, 0.99): the TensorFlow/Keras/Caffe decay written into PyTorch, where momentum is the weight of the new batch, so the running statistics follow the last few batches.",
    docs: r#"## What it does
Finds PyTorch batch-normalization layers (`nn.BatchNorm1d/2d/3d`, `nn.SyncBatchNorm`, the
lazy variants) built with a `momentum` of 0.5 or more and below 1: a literal, a module-level
constant (`BN_MOMENTUM = 0.9`), through a module-level alias of the layer
(`_BATCH_NORM = nn.BatchNorm2d`) or a `functools.partial(nn.BatchNorm2d, momentum=0.9)`.
`momentum=None` (a cumulative average), expressions such as `1 - 0.99` and Keras's
`BatchNormalization` are not reported.

## Why is this bad?
PyTorch updates a running statistic as
`running = (1 - momentum) * running + momentum * batch_statistic`, with a default momentum of
0.1. TensorFlow/Keras, Caffe and Darknet call the *other* factor momentum (the decay of the old
value: 0.99, 0.9, 0.999). Copied into a PyTorch layer, `momentum=0.9` makes the running mean
and variance nine-tenths the last batch: training (which normalizes with batch statistics)
looks fine, but in `model.eval()` every output depends on whichever batches came last, and
evaluation accuracy is lower and noisy. Nothing fails, so it is found by reading the code.
Maintainers fixed exactly this in PyTorch-YOLOv3 (`momentum=0.9` from Darknet), deeplab-pytorch
(0.999 from Caffe), pretrained-models.pytorch's BNInception (0.9), tacotron_pytorch (0.99 from
TensorFlow), FastEstimator's PyTorch ResNet9 (0.8 from its TensorFlow twin) and torchvision's
MaxViT (0.99). Loading pretrained weights and evaluating is unaffected (the running statistics
come from the checkpoint); training or fine-tuning in train mode overwrites them.

## Example
```python
self.bn = nn.BatchNorm2d(64, momentum=0.9)  # Keras's BatchNormalization(momentum=0.9)
```

## Use instead
```python
self.bn = nn.BatchNorm2d(64, momentum=0.1)  # PyTorch: 1 - (the decay)
```

## Fix
Unsafe: replaces the value with `1 - value` (0.9 becomes 0.1), which is right when the number
was a decay; a model trained with the old value then evaluates differently.

## References
- PyTorch `nn.BatchNorm2d`, note on `momentum` ("different from one used in optimizer classes
  and the conventional notion of momentum"): <https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html>
- Keras `BatchNormalization` (`moving_mean = moving_mean * momentum + mean(batch) * (1 - momentum)`, default 0.99): <https://keras.io/api/layers/normalization_layers/batch_normalization/>
- eriklindernoren/PyTorch-YOLOv3, "Fix batch normaliziation (1-x)": <https://github.com/eriklindernoren/PyTorch-YOLOv3/commit/d25221c8f281521bde2d12d9bdc9c4089ce3e305>
- kazuto1011/deeplab-pytorch, "Fix the default momentum of batch norm layers": <https://github.com/kazuto1011/deeplab-pytorch/commit/e792578954ad3834834b7e2c846b641a7229e276>
- pytorch/vision#8250 and #8312, "Fix default momentum value of BatchNorm2d in MaxViT from 0.99 to 0.01" (copied from the TensorFlow implementation): <https://github.com/pytorch/vision/pull/8312>
"#,
    check,
};

/// Values below this are PyTorch's convention (0.1, 0.01, 0.03); from it up they are a decay.
const DECAY_FROM: f64 = 0.5;

/// `torch.nn.BatchNorm2d` and its kin (not the functional `batch_norm`, whose momentum is a
/// plain argument of one call).
fn names_batchnorm(qualified: &str) -> bool {
    kind(qualified) == LayerKind::BatchNorm && !qualified.ends_with("batch_norm")
}

/// A batch-norm layer constructor: `torch.nn.BatchNorm2d`, or a module-level alias of one
/// (`_BATCH_NORM = nn.BatchNorm2d`).
fn is_batchnorm(index: &SemanticIndex, call: &Call) -> bool {
    if call.qualified.as_deref().is_some_and(names_batchnorm) {
        return true;
    }
    let Some(name) = dotted(&call.expr.func) else {
        return false;
    };
    // deeplab-pytorch binds `_BATCH_NORM` to `encoding.nn.SyncBatchNorm` in a `try:` and to
    // `nn.BatchNorm2d` in its `except:`: third-party synchronized batch norms subclass
    // PyTorch's and keep its convention, so the alias counts when one binding is PyTorch's
    // and every other one is a batch norm by name.
    let aliases: Vec<String> = index
        .bindings
        .iter()
        .filter(|b| b.function.is_none() && b.class.is_none() && b.target == name)
        .filter_map(|b| index.qualified_name(b.value).or_else(|| dotted(b.value)))
        .collect();
    let count = index
        .bindings
        .iter()
        .filter(|b| b.function.is_none() && b.class.is_none() && b.target == name)
        .count();
    aliases.len() == count
        && aliases.iter().any(|q| names_batchnorm(q))
        && aliases.iter().all(|q| {
            q.rsplit('.')
                .next()
                .is_some_and(|n| n.contains("BatchNorm"))
        })
}

/// A number: a literal, or a module-level constant bound once to one.
fn value_of(index: &SemanticIndex, expr: &Expr) -> Option<f64> {
    if let Some(value) = number(expr) {
        return Some(value);
    }
    let Expr::Name(name) = expr else {
        return None;
    };
    let mut bindings = index
        .bindings
        .iter()
        .filter(|b| b.function.is_none() && b.class.is_none() && b.target == name.id.as_str());
    let first = bindings.next()?;
    if bindings.next().is_some() {
        return None;
    }
    number(first.value)
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for call in &index.calls {
        // `partial(nn.BatchNorm2d, momentum=0.9)` builds every norm layer of a model.
        let layer_call = if call.qualified.as_deref() == Some("functools.partial") {
            let Some(first) = call.expr.arguments.args.first() else {
                continue;
            };
            if !index
                .qualified_name(first)
                .is_some_and(|q| names_batchnorm(&q))
            {
                continue;
            }
            false
        } else if is_batchnorm(index, call) {
            true
        } else {
            continue;
        };
        // BatchNorm2d(num_features, eps, momentum, ...): momentum is the third positional.
        let momentum = if layer_call {
            call.arg_or_keyword(2, "momentum")
        } else {
            call.keyword("momentum")
        };
        let Some(momentum) = momentum else {
            continue;
        };
        let Some(value) = value_of(index, momentum) else {
            continue;
        };
        if !(DECAY_FROM..1.0).contains(&value) {
            continue;
        }
        let pytorch = 1.0 - value;
        let shown = format_value(pytorch);
        let written = ctx.text(momentum.range());
        let shown_momentum = if number(momentum).is_some() {
            format!("momentum={written}")
        } else {
            format!("momentum={written} (= {})", format_value(value))
        };
        let message = format!(
            "`{shown_momentum}` in `{}`: PyTorch's BatchNorm momentum is the weight of the new batch (default 0.1), the opposite of TensorFlow/Keras/Caffe's decay, so each update keeps only {:.1}% of the running statistics and eval-mode outputs depend on the last few batches",
            crate::context::one_line(ctx.text(call.range()), 80),
            pytorch * 100.0
        );
        let mut fix = Fix::new(format!(
            "If {} was meant as a decay (as in TensorFlow, Keras or Caffe), use momentum={shown}",
            format_value(value)
        ));
        // Only a literal is replaced in place; a constant is fixed where it is defined.
        if number(momentum).is_some() {
            fix = fix.with_replacement(shown);
        }
        ctx.report(momentum.range(), message, Some(fix));
    }
}

/// `1 - 0.9` as written by hand: `0.1`, `0.01`, `0.001` (no float noise).
fn format_value(value: f64) -> String {
    let rounded = (value * 1e6).round() / 1e6;
    let text = format!("{rounded}");
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::format_value;

    #[test]
    fn complements_read_as_written() {
        assert_eq!(format_value(1.0 - 0.9), "0.1");
        assert_eq!(format_value(1.0 - 0.99), "0.01");
        assert_eq!(format_value(1.0 - 0.999), "0.001");
        assert_eq!(format_value(1.0 - 0.8), "0.2");
    }
}
