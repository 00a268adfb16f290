//! Evaluation functions anywhere in the project (`def evaluate(model, loader)`, a `validate`
//! method): found once here, judged by the rules that care (TRN016 for `eval()`, TRN021 for
//! autograd).

use mleng_project::Symbol;
use mleng_python::index::literals::dotted;
use mleng_python::index::{Call, CallKind, Loop};

use crate::context::Context;

/// Words that name an evaluation function (`evaluate`, `validate`, `val_epoch`, `run_test`,
/// `predict`, `inference`), as the first or last word of its name.
const EVALUATION_WORDS: &[&str] = &[
    "eval",
    "evaluate",
    "evaluation",
    "validate",
    "validation",
    "val",
    "valid",
    "test",
    "predict",
    "inference",
    "infer",
];

/// Parameter and attribute names that hold the model an evaluation function runs.
const MODEL_NAMES: &[&str] = &[
    "model",
    "net",
    "network",
    "classifier",
    "module",
    "ema_model",
];

/// Names inside a function that say it needs gradients (saliency, adversarial inputs) or
/// handles autograd itself.
pub(crate) const GRAD_AWARE: &[&str] = &[
    "set_grad_enabled",
    "no_grad",
    "inference_mode",
    "enable_grad",
    "requires_grad",
    "autograd.grad",
    ".backward(",
];

/// Whether a decorator or a `with` line of `text` names something about gradients, inference
/// or eval mode (`@nograd`, `with eval_mode(self.model):`, `@torch.inference_mode()`): a
/// project's own helper may turn autograd off or switch modes, and the rules cannot see into
/// every one of them.
pub(crate) fn wrapped_by_name(text: &str, words: &[&str]) -> bool {
    text.lines().any(|line| {
        let t = line.trim_start();
        (t.starts_with('@') || t.starts_with("with ") || t.starts_with("async with "))
            && words.iter().any(|w| t.to_ascii_lowercase().contains(w))
    })
}

/// A function's text with its decorators (`@nograd` above the `def`).
pub(crate) fn text_with_decorators<'a>(ctx: &Context<'_, 'a>, function: usize) -> &'a str {
    let def = ctx.index.functions[function].def;
    let start = def
        .decorator_list
        .iter()
        .map(|d| d.range.start())
        .min()
        .map_or(def.range.start(), |s| s.min(def.range.start()));
    // From the start of the decorator's line, so that the `@` is part of the text.
    let source = ctx.index.source;
    let line_start = source
        .lines
        .line_start(source.lines.line_of(start))
        .map_or(start, ruff_text_size::TextSize::from);
    ctx.text(ruff_text_size::TextRange::new(
        line_start.min(start),
        def.range.end(),
    ))
}

/// An evaluation pass: a function named for evaluation that loops over data and runs the
/// model it is given, and never backpropagates or steps.
pub(crate) struct EvaluationFunction<'i, 'a> {
    pub function: usize,
    pub name: &'a str,
    /// The loop over data that runs the model; `None` for a prediction function that runs it
    /// once (`def predict_img(net, img)`).
    pub pass: Option<&'i Loop>,
    /// Where to report: the loop's header, or the model's call.
    pub site: ruff_text_size::TextRange,
    pub model_call: &'i Call<'a>,
    /// The model as called (`model`, `self.model`).
    pub model: String,
    /// The model runs through `model.generate(...)` (Hugging Face), which turns autograd off
    /// itself but leaves the mode as it is.
    pub generates: bool,
}

pub(crate) fn find<'i, 'a>(ctx: &Context<'i, 'a>) -> Vec<EvaluationFunction<'i, 'a>> {
    let index = ctx.index;
    let mut out = Vec::new();
    for (fid, function) in index.functions.iter().enumerate() {
        let lower = function.name.to_ascii_lowercase();
        let words: Vec<&str> = lower.split('_').filter(|w| !w.is_empty()).collect();
        let named = words.first().is_some_and(|w| EVALUATION_WORDS.contains(w))
            || words.last().is_some_and(|w| EVALUATION_WORDS.contains(w));
        if !named || words.last() == Some(&"step") {
            // `validation_step` & co. belong to frameworks that handle modes and autograd.
            continue;
        }
        if let Some(class_id) = function.class {
            let class = &index.classes[class_id];
            if class.is_lightning || class.bases.iter().any(|b| is_framework_base(b)) {
                continue;
            }
            // `self.model` is a trained model only in a class that trains it (a `Trainer`);
            // elsewhere (an inference pipeline, a wrapper) it may be anything, already in
            // eval mode and run under the framework's no_grad.
            let trains = class.methods.iter().any(|&m| {
                index
                    .calls_in_function(m)
                    .any(|(_, c)| c.kind == CallKind::Backward)
            });
            if !trains {
                continue;
            }
        }
        if index
            .calls_in_function(fid)
            .any(|(_, c)| c.kind != CallKind::Other)
        {
            continue; // backward or steps: training or test-time adaptation
        }
        let params: Vec<String> = function
            .def
            .parameters
            .iter_non_variadic_params()
            .map(|p| p.parameter.name.as_str().to_string())
            .collect();
        let is_model = |callee: &str| {
            let last = callee.strip_prefix("self.").unwrap_or(callee);
            MODEL_NAMES.contains(&last)
                && (callee.starts_with("self.") || params.iter().any(|p| p == callee))
        };
        let found = index.loops.iter().find_map(|lp| {
            if lp.function != Some(fid) || lp.iterates_over.is_none() {
                return None;
            }
            index.calls.iter().find_map(|c| {
                let callee = dotted(&c.expr.func)?;
                if !lp.range.contains_range(c.range()) {
                    return None;
                }
                if is_model(&callee) {
                    return Some((lp, c, callee, false));
                }
                let model = callee.strip_suffix(".generate")?;
                is_model(model).then(|| (lp, c, model.to_string(), true))
            })
        });
        if let Some((pass, model_call, model, generates)) = found {
            out.push(EvaluationFunction {
                function: fid,
                name: function.name,
                pass: Some(pass),
                site: pass.header,
                model_call,
                model,
                generates,
            });
            continue;
        }
        // A prediction function that runs the model it is given once, without a loop
        // (`def predict_img(net, full_img)`): it needs eval mode as much as a loop does.
        let predicts = words
            .iter()
            .any(|w| matches!(*w, "predict" | "inference" | "infer"));
        if !predicts || function.class.is_some() {
            continue;
        }
        let direct = index.calls_in_function(fid).find_map(|(_, c)| {
            let callee = dotted(&c.expr.func)?;
            (params.contains(&callee) && MODEL_NAMES.contains(&callee.as_str()))
                .then_some((c, callee))
        });
        if let Some((model_call, model)) = direct {
            // Reported at the signature: the missing `eval()` goes at the top of the body.
            let def = function.def;
            let site =
                ruff_text_size::TextRange::new(def.name.range.start(), def.parameters.range.end());
            out.push(EvaluationFunction {
                function: fid,
                name: function.name,
                pass: None,
                site,
                model_call,
                model,
                generates: false,
            });
        }
    }
    out
}

/// Classes of training frameworks whose evaluation methods set modes and autograd themselves.
fn is_framework_base(base: &str) -> bool {
    [
        "transformers.",
        "lightning",
        "pytorch_lightning",
        "accelerate",
        "ignite.",
    ]
    .iter()
    .any(|p| base.starts_with(p))
}

/// The project's calls of the indexed function `fid`: through the project model (any file,
/// any import), and `self.<name>(...)` in this file for a method. Each with the module it is
/// in and the function that makes it, when known.
pub(crate) fn callers<'c>(
    ctx: &'c Context,
    fid: usize,
) -> Vec<(usize, &'c mleng_project::summary::CallSite)> {
    let index = ctx.index;
    let function = &index.functions[fid];
    let mut out: Vec<(usize, &mleng_project::summary::CallSite)> = Vec::new();
    if let Some(symbol) = ctx.project_function(fid) {
        out.extend(ctx.project.callers_of(symbol));
    }
    if function.class.is_some() {
        let as_method = format!("self.{}", function.name);
        out.extend(
            ctx.project
                .module(ctx.module)
                .call_sites
                .iter()
                .filter(|site| site.callee == as_method)
                .map(|site| (ctx.module, site)),
        );
    }
    out
}

/// Where the first few of `callers` are, for a finding's related locations.
pub(crate) fn caller_locations(
    ctx: &Context,
    callers: &[(usize, &mleng_project::summary::CallSite)],
) -> Vec<mleng_diagnostics::Location> {
    callers
        .iter()
        .take(crate::context::MAX_RELATED)
        .map(|&(module, site)| ctx.site_location(module, site))
        .collect()
}

/// The function a call site is in, as a project symbol.
pub(crate) fn caller_of(
    ctx: &Context,
    module: usize,
    site: &mleng_project::summary::CallSite,
) -> Option<Symbol> {
    ctx.project.caller_of(module, site)
}
