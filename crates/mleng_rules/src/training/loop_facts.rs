//! Names and texts about a training loop that several rules use in messages and fixes.

use mleng_python::index::training::{helper_targets, TrainingLoop};
use mleng_python::index::CallKind;
use ruff_text_size::{Ranged, TextRange};

use crate::context::Context;

/// The optimizer being stepped (`optimizer` in `optimizer.step()` or `scaler.step(optimizer)`).
pub(crate) fn optimizer_name(ctx: &Context, lp: &TrainingLoop) -> String {
    let index = ctx.index;
    for event in lp.events_of(CallKind::is_step) {
        let call = &index.calls[event.call];
        match event.kind {
            CallKind::OptimizerStep => {
                if let Some(receiver) = &call.receiver {
                    return receiver.clone();
                }
            }
            CallKind::ScalerStep => {
                if let Some(arg) = call.arg(0) {
                    return ctx.text(arg.range()).to_string();
                }
            }
            _ => {}
        }
    }
    "optimizer".to_string()
}

/// The parameters the optimizer was built over (`model.parameters()`), for the clip call.
pub(crate) fn parameters_text(ctx: &Context, optimizer: &str) -> String {
    ctx.index
        .constructor_call_of(optimizer)
        .and_then(|call| {
            call.arguments
                .keywords
                .iter()
                .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "params"))
                .map(|k| &k.value)
                .or_else(|| call.arguments.args.first())
        })
        .map(|expr| ctx.text(expr.range()).to_string())
        .filter(|text| text.ends_with(".parameters()") && !text.contains('\n'))
        .unwrap_or_else(|| "model.parameters()".to_string())
}

/// The GradScaler's name (`scaler` in `scaler.scale(loss)`), if the loop uses one.
pub(crate) fn scaler_name(ctx: &Context, lp: &TrainingLoop) -> Option<String> {
    lp.events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                CallKind::Scale | CallKind::ScalerStep | CallKind::Unscale
            )
        })
        .find_map(|e| ctx.index.calls[e.call].receiver.clone())
}

pub(crate) fn uses_scaler(lp: &TrainingLoop) -> bool {
    lp.has(|k| matches!(k, CallKind::Scale | CallKind::ScalerStep))
}

/// The text of the first call of a kind in the loop (`loss.backward()`), one line.
pub(crate) fn call_text(
    ctx: &Context,
    lp: &TrainingLoop,
    pred: impl Fn(CallKind) -> bool,
) -> Option<String> {
    let event = lp.first(pred)?;
    let text = ctx.text(ctx.index.calls[event.call].range());
    (!text.contains('\n')).then(|| text.to_string())
}

/// Gradients cleared without a `zero_grad` method call: `p.grad = None`, `p.grad.zero_()`,
/// `p.grad.data.zero_()`, a `zero_grad(...)` function, `set_to_none` plumbing, in the loop text
/// or in the text of a local helper the loop calls.
pub(crate) fn clears_grads_by_hand(ctx: &Context, lp: &TrainingLoop) -> bool {
    clears_grads_otherwise(ctx, lp, true)
}

/// Like [`clears_grads_by_hand`], but the loop's own `zero_grad()` calls (known to the caller,
/// which judges them one by one) do not count; helpers that mention `zero_grad` still do.
pub(crate) fn clears_grads_otherwise(
    ctx: &Context,
    lp: &TrainingLoop,
    own_zero_grad_counts: bool,
) -> bool {
    let by_hand = |compact: &str| {
        compact.contains(".grad=None")
            || compact.contains("grad.zero_()")
            || compact.contains("grad.data.zero_()")
            || compact.contains("grad.detach_()")
            || compact.contains("set_to_none")
    };
    let mentions = |text: &str| {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        compact.contains("zero_grad") || by_hand(&compact)
    };
    let loop_text: String = ctx
        .text(lp.range)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if by_hand(&loop_text) || (own_zero_grad_counts && loop_text.contains("zero_grad")) {
        return true;
    }
    let index = ctx.index;
    let class = lp.function.and_then(|f| index.functions[f].class);
    index
        .calls
        .iter()
        .enumerate()
        .filter(|(_, c)| lp.range.contains_range(c.range()))
        .flat_map(|(id, _)| helper_targets(index, id, class))
        .any(|f| mentions(ctx.text(index.functions[f].def.range)))
}

/// `a` and `b` never run in the same iteration: they sit in different branches of one `if`,
/// or one in the body of an `if T:` and the other in the `else:` of another `if T:` with the
/// same test (`if use_amp: ... autocast ...` then later `if use_amp: ... else: loss.backward()`).
pub(crate) fn exclusive(ctx: &Context, a: TextRange, b: TextRange) -> bool {
    // (test text, whether in the body) of each `if` around `r`, and which `if` it is.
    let sides = |r: TextRange| -> Vec<(usize, &str, bool)> {
        ctx.index
            .flow
            .ifs
            .iter()
            .enumerate()
            .filter_map(|(i, block)| {
                let test = ctx.text(block.test.range());
                if block.body.contains_range(r) {
                    Some((i, test, true))
                } else if block.orelse.is_some_and(|o| o.contains_range(r)) {
                    Some((i, test, false))
                } else {
                    None
                }
            })
            .collect()
    };
    let (of_a, of_b) = (sides(a), sides(b));
    of_a.iter().any(|(i, test, body)| {
        of_b.iter()
            .any(|(j, other, other_body)| (i == j || test == other) && body != other_body)
    })
}

/// Text of the loop and of the local helpers called inside it.
pub(crate) fn loop_and_helper_texts<'a>(ctx: &Context<'_, 'a>, lp: &TrainingLoop) -> Vec<&'a str> {
    let index = ctx.index;
    let class = lp.function.and_then(|f| index.functions[f].class);
    let mut out = vec![ctx.text(lp.range)];
    for (id, call) in index.calls.iter().enumerate() {
        if lp.range.contains_range(call.range()) {
            for f in helper_targets(index, id, class) {
                out.push(ctx.text(index.functions[f].def.range));
            }
        }
    }
    out
}

/// Names we know are models because something asks for their parameters or switches their mode
/// (`model.parameters()`, `net.train()`, `self.model.eval()`).
pub(crate) fn model_names(index: &mleng_python::SemanticIndex) -> Vec<String> {
    index
        .calls
        .iter()
        .filter(|c| {
            matches!(
                c.method,
                Some("parameters" | "train" | "eval" | "named_parameters")
            )
        })
        .filter_map(|c| c.receiver.clone())
        .collect()
}

/// Whether the model bound to `name` in this file is visibly mode-free: a torch layer, an `nn.Sequential` of
/// layers that behave the same in train and eval mode, or a module class of this file whose
/// layers all do (no Dropout, BatchNorm, `self.training`, and no child class to look into).
pub(crate) fn mode_free_here(ctx: &crate::context::Context, name: &str) -> bool {
    let index = ctx.index;
    let Some(ctor) = index.constructor_call_of(name) else {
        return false;
    };
    if index.is_sequential(ctor) {
        let items = index.sequential_items(ctor);
        return !items.is_empty()
            && items.iter().all(|item| {
                item.and_then(|c| index.qualified_name(&c.func))
                    .is_some_and(|q| mleng_knowledge::layers::same_in_train_and_eval(&q))
            });
    }
    // A single torch layer (`model = nn.Linear(784, 10)`).
    if index.qualified_name(&ctor.func).is_some_and(|q| {
        q.starts_with("torch.nn.") && mleng_knowledge::layers::same_in_train_and_eval(&q)
    }) {
        return true;
    }
    let Some(class) = mleng_python::index::literals::dotted(&ctor.func) else {
        return false;
    };
    crate::project::module_modes::collect(index)
        .iter()
        .find(|c| c.name == class)
        .is_some_and(|c| !c.depends_on_mode && c.children.is_empty())
}
