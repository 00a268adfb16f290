//! Which classification loss a call computes, and which output activation produced its input
//! (directly, through a variable, or as the end of the model's `forward`). Shared by
//! TRN007 and TRN008.

use std::collections::HashMap;

use mleng_knowledge::losses::{activation, activation_method, loss, Activation, Loss, LossInput};
use mleng_python::index::dataflow::ModelTarget;
use mleng_python::index::literals::dotted;
use mleng_python::index::{CallId, FunctionId};
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;
use ruff_text_size::{Ranged, TextSize};

/// A loss call and its first (input) argument.
pub(crate) struct LossCall<'a> {
    pub call: CallId,
    pub loss: Loss,
    pub input: &'a Expr,
}

/// Where the activation feeding a loss was applied.
pub(crate) struct Origin {
    pub activation: Activation,
    /// The activation call.
    pub call: CallId,
    /// The model call whose `forward` (or `Sequential`) ends in the activation, if that is how.
    pub via_model: Option<CallId>,
}

/// Losses whose input is in `inputs` and whose input comes from `activation`, each with where the
/// activation was applied. A model whose forward ends in the activation is reported once, however
/// many losses use its output.
pub(crate) fn activation_fed_losses<'a>(
    index: &'a SemanticIndex<'a>,
    inputs: &[LossInput],
    activation: Activation,
) -> Vec<(LossCall<'a>, Origin)> {
    let mut seen_models: Vec<CallId> = Vec::new();
    let mut out = Vec::new();
    for lc in loss_calls(index) {
        if !inputs.contains(&lc.loss.input) {
            continue;
        }
        let call = &index.calls[lc.call];
        let Some(o) = origin(index, call.function, lc.input, call.start(), true) else {
            continue;
        };
        if o.activation != activation {
            continue;
        }
        if o.via_model.is_some() {
            if seen_models.contains(&o.call) {
                continue;
            }
            seen_models.push(o.call);
        }
        out.push((lc, o));
    }
    out
}

pub(crate) fn loss_calls<'a>(index: &'a SemanticIndex<'a>) -> Vec<LossCall<'a>> {
    // Names bound to a loss module anywhere in the file (`criterion = nn.CrossEntropyLoss()`),
    // the last binding winning, computed once: O(bindings + calls).
    let mut loss_objects: HashMap<&str, Option<Loss>> = HashMap::new();
    for b in &index.bindings {
        let bound = match b.value {
            Expr::Call(call) => index.qualified_name(&call.func).as_deref().and_then(loss),
            _ => None,
        };
        if bound.is_some() || loss_objects.contains_key(b.target.as_str()) {
            loss_objects.insert(b.target.as_str(), bound);
        }
    }
    let mut out = Vec::new();
    for (id, call) in index.calls.iter().enumerate() {
        let found = match call.expr.func.as_ref() {
            Expr::Call(inner) => index.qualified_name(&inner.func).as_deref().and_then(loss),
            func => match call.qualified.as_deref() {
                Some(q) => loss(q),
                None if loss_objects.is_empty() => None,
                None => {
                    dotted(func).and_then(|name| loss_objects.get(name.as_str()).copied().flatten())
                }
            },
        };
        let Some(found) = found else {
            continue;
        };
        if let Some(input) = call.arg_or_keyword(0, "input") {
            out.push(LossCall {
                call: id,
                loss: found,
                input,
            });
        }
    }
    out
}

/// Shape-only methods we look through (`probs.squeeze(1)`, `out.float()`).
const TRANSPARENT_METHODS: &[&str] = &[
    "squeeze",
    "unsqueeze",
    "view",
    "reshape",
    "flatten",
    "float",
    "contiguous",
    "permute",
    "transpose",
    "double",
    "half",
];

/// The activation whose output `expr` is, following names bound earlier on the same path.
pub(crate) fn origin(
    index: &SemanticIndex,
    function: Option<FunctionId>,
    expr: &Expr,
    use_at: TextSize,
    through_model: bool,
) -> Option<Origin> {
    let mut current = index.producer(function, expr, use_at)?;
    for _ in 0..4 {
        let call = &index.calls[current];
        if !matches!(expr, Expr::Call(_)) && !index.flow.same_path(call.range(), use_at) {
            return None;
        }
        if let Some(activation) = activation_of_call(index, current) {
            return Some(Origin {
                activation,
                call: current,
                via_model: None,
            });
        }
        match call.method {
            Some(m) if TRANSPARENT_METHODS.contains(&m) && call.qualified.is_none() => {
                let Expr::Attribute(attr) = call.expr.func.as_ref() else {
                    return None;
                };
                current = index.producer(function, &attr.value, call.start())?;
            }
            _ => break,
        }
    }
    if !through_model {
        return None;
    }
    let model_call = current;
    match index.model_target(model_call)? {
        ModelTarget::Sequential(seq) => {
            let last = index.sequential_items(seq).into_iter().last()??;
            let activation = activation(&index.qualified_name(&last.func)?)?;
            let call = index.call_id_at(last.range())?;
            Some(Origin {
                activation,
                call,
                via_model: Some(model_call),
            })
        }
        ModelTarget::Class(class) => {
            let forward = index.method(class, "forward")?;
            let returns = index.returns_of(forward);
            let mut found: Option<Origin> = None;
            for ret in &returns {
                let o = origin(index, Some(forward), ret, ret.range().start(), false)?;
                if found.as_ref().is_some_and(|f| f.activation != o.activation) {
                    return None;
                }
                found = Some(o);
            }
            found.map(|o| Origin {
                via_model: Some(model_call),
                ..o
            })
        }
    }
}

fn activation_of_call(index: &SemanticIndex, id: CallId) -> Option<Activation> {
    let call = &index.calls[id];
    match call.expr.func.as_ref() {
        // `nn.Softmax(dim=1)(x)`
        Expr::Call(inner) => return activation(&index.qualified_name(&inner.func)?),
        Expr::Attribute(attr) => {
            if let Some(q) = &call.qualified {
                return activation(q);
            }
            if matches!(attr.value.as_ref(), Expr::Name(n) if n.id.as_str() == "self") {
                // `self.softmax(x)`: only a layer we know, never a method of the class.
                let class = call.class?;
                let layer = index.layer(class, attr.attr.as_str())?;
                if index.is_sequential(layer.call) {
                    // `self.main = nn.Sequential(..., nn.Sigmoid())`: its last element.
                    let last = index.sequential_items(layer.call).into_iter().last()??;
                    return activation(&index.qualified_name(&last.func)?);
                }
                return activation(layer.constructor.as_deref()?);
            }
            // `logits.softmax(dim=-1)` on a tensor (a variable, not a module we built).
            let module_object = call.receiver.as_deref().is_some_and(|r| {
                index.constructor_of(r).is_some_and(|ctor| {
                    ctor.rsplit('.')
                        .next()
                        .is_some_and(|last| last.starts_with(|c: char| c.is_ascii_uppercase()))
                })
            });
            if module_object {
                return None;
            }
            return activation_method(attr.attr.as_str());
        }
        _ => {}
    }
    activation(call.qualified.as_deref()?)
}

/// A short name for the activation call in messages: `self.out` (nn.Softmax) for a layer,
/// the call text when it is short, else the callee with `(...)`.
pub(crate) fn describe(ctx: &crate::context::Context, call: CallId) -> String {
    let index = ctx.index;
    let c = &index.calls[call];
    let func = ctx.text(c.expr.func.range());
    if let (Some(class), Some(attr)) = (c.class, func.strip_prefix("self.")) {
        if let Some(ctor) = index
            .layer(class, attr)
            .and_then(|l| l.constructor.as_deref())
        {
            let short = ctor.rsplit('.').next().unwrap_or(ctor);
            let layer = index.layer(class, attr).map(|l| l.call);
            let ending = layer
                .filter(|call| index.is_sequential(call))
                .and_then(|call| index.sequential_items(call).into_iter().last().flatten())
                .and_then(|last| index.qualified_name(&last.func))
                .map(|q| format!(" ending in nn.{}", q.rsplit('.').next().unwrap_or(&q)))
                .unwrap_or_default();
            return format!("`{func}` (nn.{short}{ending})");
        }
    }
    let text = ctx.text(c.range());
    if text.len() <= 60 && !text.contains('\n') {
        format!("`{text}`")
    } else {
        format!("`{func}(...)`")
    }
}
