//! What a transform pipeline is for (training or evaluation), from where it is bound and used,
//! and what a tensor expression is (a label map?), from its variable name.

use mleng_knowledge::vision::{is_eval_name, name_words};
use mleng_python::index::literals::{boolean, dotted, string};
use mleng_python::index::{CallId, Function};
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;
use ruff_text_size::{Ranged, TextRange};

/// Why we believe a pipeline transforms evaluation data.
pub(crate) struct EvalUse {
    pub reason: String,
}

pub(crate) fn is_train_name(name: &str) -> bool {
    name_words(name)
        .iter()
        .any(|w| matches!(w.as_str(), "train" | "training" | "tta" | "aug" | "augment"))
}

/// The call (dataset constructor, DataLoader...) that receives `range` as an argument.
pub(crate) fn receiving_call(index: &SemanticIndex, range: TextRange) -> Option<CallId> {
    index.calls.iter().position(|c| {
        c.expr.range() != range
            && (c.expr.arguments.args.iter().any(|a| a.range() == range)
                || c.expr
                    .arguments
                    .keywords
                    .iter()
                    .any(|k| k.value.range() == range))
    })
}

/// Is this call a dataset constructed for evaluation (`train=False`, `split="val"`, or bound to
/// `val_set`)? Returns the evidence.
pub(crate) fn eval_dataset(index: &SemanticIndex, id: CallId) -> Option<String> {
    let call = &index.calls[id];
    if let Some(train) = call.keyword("train").and_then(boolean) {
        return (!train).then(|| "a dataset built with `train=False`".to_string());
    }
    for key in ["split", "image_set", "subset", "mode", "phase"] {
        if let Some(value) = call.keyword(key).and_then(string) {
            return is_eval_name(value)
                .then(|| format!("a dataset built with `{key}=\"{value}\"`"));
        }
    }
    let binding = index
        .bindings
        .iter()
        .find(|b| b.value.range() == call.expr.range())?;
    (is_eval_name(&binding.target) && !is_train_name(&binding.target))
        .then(|| format!("the dataset `{}`", binding.target))
}

/// Decides whether the pipeline built by call `id` transforms evaluation data.
pub(crate) fn eval_use(index: &SemanticIndex, id: CallId) -> Option<EvalUse> {
    let call = &index.calls[id];
    let range = call.expr.range();
    // 1. Passed straight to an evaluation dataset.
    if let Some(receiver) = receiving_call(index, range) {
        if let Some(why) = eval_dataset(index, receiver) {
            return Some(EvalUse {
                reason: format!("it transforms {why}"),
            });
        }
    }
    // 2. Bound to a name: by where the name is used, then by the name itself.
    if let Some(binding) = index.bindings.iter().find(|b| b.value.range() == range) {
        let target = binding.target.as_str();
        if is_train_name(target) {
            return None;
        }
        let uses: Vec<CallId> = index
            .calls
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.expr
                    .arguments
                    .keywords
                    .iter()
                    .any(|k| dotted(&k.value).as_deref() == Some(target))
            })
            .map(|(i, _)| i)
            .collect();
        let mut eval_evidence = None;
        for &u in &uses {
            match eval_dataset(index, u) {
                Some(why) => eval_evidence = Some(why),
                None if index.calls[u].keyword("train").and_then(boolean) == Some(true) => {
                    return None
                }
                None => {}
            }
        }
        if let Some(why) = eval_evidence {
            return Some(EvalUse {
                reason: format!("`{target}` transforms {why}"),
            });
        }
        if is_eval_name(target) {
            return Some(EvalUse {
                reason: format!("it is assigned to `{target}`"),
            });
        }
    }
    // 3. A value in a `{"train": ..., "val": ...}` dict.
    for binding in &index.bindings {
        if let Expr::Dict(dict) = binding.value {
            for item in &dict.items {
                if item.value.range() == range {
                    let key = item.key.as_ref().and_then(string)?;
                    return (is_eval_name(key) && !is_train_name(key)).then(|| EvalUse {
                        reason: format!("it is the \"{key}\" entry of `{}`", binding.target),
                    });
                }
            }
        }
    }
    // 4. Returned by a function named for evaluation (`get_val_transforms`).
    let function: &Function = &index.functions[call.function?];
    let name = function.name;
    if name.starts_with("test") || is_train_name(name) || !is_eval_name(name) {
        return None;
    }
    let returns_it = index.source.slice(function.def.range()).contains("return")
        && receiving_call(index, range).is_none();
    returns_it.then(|| EvalUse {
        reason: format!("it is built in `{name}()`"),
    })
}

/// The variable behind a tensor expression: `mask`, `mask[None]`, `mask.float()`,
/// `mask.unsqueeze(0).float()` -> `mask`; `self.gt_mask` -> `self.gt_mask`.
pub(crate) fn base_variable(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(_) | Expr::Attribute(_) => dotted(expr),
        Expr::Subscript(sub) => base_variable(&sub.value),
        Expr::Call(call) => match call.func.as_ref() {
            Expr::Attribute(attr)
                if matches!(
                    attr.attr.as_str(),
                    "float"
                        | "long"
                        | "unsqueeze"
                        | "squeeze"
                        | "to"
                        | "type"
                        | "double"
                        | "half"
                        | "clone"
                        | "contiguous"
                        | "cuda"
                        | "cpu"
                        | "astype"
                        | "numpy"
                        | "permute"
                ) =>
            {
                base_variable(&attr.value)
            }
            _ => None,
        },
        _ => None,
    }
}
