use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::optimizers::lr_range;
use mleng_python::index::literals::number;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN022",
    name: "suspicious-learning-rate",
    area: Area::Training,
    severity: Severity::Info,
    fix: None,
    summary: "A literal learning rate far outside the usual range for its optimizer (Adam >= 0.1, or >= 0.01 for transformers; SGD > 1; anything below 1e-7).",
    docs: r#"## What it does
Reports literal learning rates passed to `torch.optim` optimizers that are far outside the range
those optimizers are used with:

- Adam-family (`Adam`, `AdamW`, `NAdam`, `RAdam`, `Adamax`): `lr >= 0.1`, or `lr >= 0.01` in a
  file that builds attention layers or uses `transformers`;
- `SGD`: `lr > 1` (except in files that build recurrent layers: recurrent language models are
  classically trained with SGD at 1..20 plus clipping);
- any of them: `lr < 1e-7` for Adam (`1e-6` for SGD).

## Why is this bad?
Adam's step size is roughly `lr` per parameter regardless of the gradient's scale, so `lr=0.1`
moves every weight by up to 0.1 per step: most networks diverge or collapse within a few hundred
steps. Transformers are trained at 1e-4..1e-3 with warmup and fine-tuned at 1e-5..5e-5; at 1e-2
they typically diverge to NaN or a constant prediction. SGD above 1.0 is only used with huge
batches, warmup and LARS-style scaling. A rate below 1e-7 means the weights barely move, the
common result of a typo in the exponent.

## Example
```python
optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
```

## Use instead
```python
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)  # 1e-4..3e-3; 2e-5..5e-5 to fine-tune
```

## Known problems
This is advice, not a proof: some recipes (small models, specific schedules) work outside these
ranges. Only literal values are checked.

## References
- Kingma & Ba, *Adam: A Method for Stochastic Optimization* (default alpha = 0.001), ICLR 2015: <https://arxiv.org/abs/1412.6980>
- Devlin et al., *BERT* (fine-tuning at 2e-5..5e-5), NAACL 2019: <https://arxiv.org/abs/1810.04805>
- Goyal et al., *Accurate, Large Minibatch SGD* (lr = 0.1 x batch/256 with warmup), 2017: <https://arxiv.org/abs/1706.02677>
"#,
    check,
};

const ATTENTION: &[&str] = &[
    "torch.nn.Transformer",
    "torch.nn.TransformerEncoder",
    "torch.nn.TransformerDecoder",
    "torch.nn.TransformerEncoderLayer",
    "torch.nn.TransformerDecoderLayer",
    "torch.nn.MultiheadAttention",
];

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if !index.source.text.contains("optim") {
        return;
    }
    if ctx.is_test_file() {
        return;
    }
    let transformer = index.imports_any(&["transformers"])
        || index
            .calls
            .iter()
            .filter_map(|c| c.qualified.as_deref())
            .any(|q| ATTENTION.contains(&q));
    // Recurrent language models are classically trained with plain SGD at lr 1..20 plus
    // clipping (Zaremba et al. 2014; PyTorch's word_language_model example uses 20).
    let recurrent = index
        .calls
        .iter()
        .filter_map(|c| c.qualified.as_deref())
        .any(|q| {
            matches!(
                q,
                "torch.nn.LSTM"
                    | "torch.nn.GRU"
                    | "torch.nn.RNN"
                    | "torch.nn.LSTMCell"
                    | "torch.nn.GRUCell"
            )
        });
    for call in &index.calls {
        let Some(q) = call.qualified.as_deref() else {
            continue;
        };
        let Some(range) = lr_range(q) else {
            continue;
        };
        let Some(lr_expr) = call.arg_or_keyword(1, "lr") else {
            continue;
        };
        let Some(lr) = number(lr_expr) else {
            continue;
        };
        let short = q.rsplit('.').next().unwrap_or(q);
        let reason = if lr >= range.high && range.family == "Adam" {
            format!("{short} moves every weight by up to lr per step; Adam-family rates are usually 1e-4..3e-3")
        } else if lr > range.high && range.family == "SGD" && !recurrent {
            "SGD above 1.0 is only used with very large batches, warmup and layer-wise scaling"
                .to_string()
        } else if transformer && range.family == "Adam" && lr >= range.high_for_transformers {
            format!("attention models trained with {short} usually use 1e-4..1e-3 (5e-5 or less to fine-tune) and diverge near 1e-2")
        } else if lr > 0.0 && lr < range.low {
            "the weights will barely move: check the exponent".to_string()
        } else {
            continue;
        };
        let lr_text = ctx.text(lr_expr.range()).to_string();
        let message = format!("`lr={lr_text}` for {short}: {reason}");
        let fix = Fix::new(
            "Use a learning rate in the usual range and tune from there (an LR range test helps)",
        )
        .with_example(match range.family {
            "SGD" => format!("{short}(params, lr=0.1, momentum=0.9)  # scaled with batch size"),
            _ if transformer => {
                format!("{short}(params, lr=3e-4)  # 2e-5..5e-5 to fine-tune, with warmup")
            }
            _ => format!("{short}(params, lr=1e-3)"),
        });
        ctx.report(lr_expr.range(), message, Some(fix));
    }
}
