use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::layers::{kind, LayerKind};
use mleng_python::index::literals::number;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN023",
    name: "weight-decay-on-norm-and-bias",
    area: Area::Training,
    severity: Severity::Info,
    fix: None,
    summary: "Weight decay applied to all parameters, including normalization weights and biases; use parameter groups.",
    docs: r#"## What it does
Finds optimizers built over `model.parameters()` as a single group with weight decay (a literal
`weight_decay > 0`; `AdamW`'s small default of 0.01 is not reported) in a file whose models use normalization layers
(`BatchNorm*`, `LayerNorm`, `GroupNorm`, `InstanceNorm*`, `RMSNorm`).

## Why is this bad?
Weight decay pulls parameters towards zero to limit the effective capacity of weight matrices.
Normalization scales and shifts and biases do not add capacity that way: decaying a norm layer's
scale towards zero shrinks that layer's output and fights the normalization, and decaying biases
only adds noise. Standard recipes exclude them (BERT, GPT-2, ViT, timm's default
`param_groups_weight_decay`, torchvision's `--norm-weight-decay 0.0`); Goyal et al. (2017) report
that not decaying BatchNorm parameters is better. The effect is usually a few tenths of a point of
accuracy, larger with strong decay (AdamW at 0.05-0.1).

## Example
```python
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.05)
```

## Use instead
```python
decay, no_decay = [], []
for name, p in model.named_parameters():
    if not p.requires_grad:
        continue
    (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
optimizer = torch.optim.AdamW(
    [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
    lr=3e-4,
)
```

## References
- Goyal et al., *Accurate, Large Minibatch SGD* (no weight decay on BN parameters), 2017: <https://arxiv.org/abs/1706.02677>
- Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019: <https://arxiv.org/abs/1711.05101>
- timm `param_groups_weight_decay` (excludes biases and 1-D parameters): <https://huggingface.co/docs/timm/reference/optimizers>
"#,
    check,
};

fn is_norm(q: &str) -> bool {
    matches!(kind(q), LayerKind::BatchNorm | LayerKind::OtherNorm)
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if !index.source.text.contains("optim") {
        return;
    }
    if ctx.is_test_file() {
        return;
    }
    let Some(norm) = index
        .calls
        .iter()
        .filter_map(|c| c.qualified.as_deref())
        .find(|q| {
            is_norm(q) && q.starts_with("torch.nn.") && !q.starts_with("torch.nn.functional")
        })
    else {
        return;
    };
    let norm = norm.rsplit('.').next().unwrap_or(norm).to_string();
    for call in &index.calls {
        let Some(q) = call.qualified.as_deref() else {
            continue;
        };
        // weight_decay is the fifth positional parameter of all of these.
        let wd_index = match q {
            "torch.optim.AdamW" | "torch.optim.Adam" | "torch.optim.NAdam"
            | "torch.optim.RAdam" | "torch.optim.SGD" => 4,
            _ => continue,
        };
        // A single group straight from `X.parameters()`.
        let Some(Expr::Call(params)) = call.arg_or_keyword(0, "params") else {
            continue;
        };
        let Expr::Attribute(attr) = params.func.as_ref() else {
            continue;
        };
        if attr.attr.as_str() != "parameters" {
            continue;
        }
        // Only an explicit literal: AdamW's small default (0.01) is left alone.
        let Some(wd) = call
            .arg_or_keyword(wd_index, "weight_decay")
            .and_then(number)
        else {
            continue;
        };
        if wd <= 0.0 {
            continue;
        }
        let params_text = ctx.text(params.range()).to_string();
        let model = ctx.text(attr.value.range()).to_string();
        let short = q.rsplit('.').next().unwrap_or(q);
        let message = format!(
            "`{short}({params_text}, ...)` decays every parameter with weight_decay={wd}, including the `nn.{norm}` weights and the biases: exclude them with parameter groups"
        );
        let fix = Fix::new("Split the parameters into decay / no-decay groups").with_example(format!(
            "decay, no_decay = [], []\nfor name, p in {model}.named_parameters():\n    (no_decay if p.ndim <= 1 or name.endswith(\".bias\") else decay).append(p)\noptimizer = torch.optim.{short}(\n    [{{\"params\": decay, \"weight_decay\": {wd}}}, {{\"params\": no_decay, \"weight_decay\": 0.0}}], ...\n)"
        ));
        ctx.report(call.range(), message, Some(fix));
    }
}
