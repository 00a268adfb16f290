//! The `DataLoader`s a file builds, what their datasets are, and who consumes their batches:
//! shared by the data-loading rules (PRF004, PRF007, PRF008, PRF009).

use mleng_knowledge::experiment::DATA_LOADERS;
use mleng_knowledge::performance::{
    decoding_dataset, map_style_dataset, moves_batches_itself, small_sample_dataset,
    DATASET_WRAPPERS,
};
use mleng_project::{Behaviour, Symbol};
use mleng_python::index::literals::{dotted, unchain};
use mleng_python::index::training::helper_targets;
use mleng_python::index::{CallId, FunctionId, LoopId, TrainingScope};
use ruff_python_ast::{Expr, ExprCall, StmtFunctionDef};
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::context::Context;

/// A `DataLoader(...)` call bound to a name in this file.
pub(crate) struct Loader<'a> {
    pub target: &'a str,
    pub call: &'a ExprCall,
    pub function: Option<FunctionId>,
    /// The assignment statement.
    pub range: TextRange,
}

/// `DataLoader(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers, collate_fn,
/// pin_memory, ...)`: positions of the arguments the rules read.
pub(crate) const NUM_WORKERS_POSITION: usize = 5;
pub(crate) const PIN_MEMORY_POSITION: usize = 7;

/// The file's `DataLoader(...)` bindings whose arguments are all visible (no `**kwargs`).
pub(crate) fn loaders<'i>(ctx: &Context<'i, '_>) -> Vec<Loader<'i>> {
    let index = ctx.index;
    if !index.source.text.contains("DataLoader") {
        return Vec::new();
    }
    index
        .bindings
        .iter()
        .filter_map(|b| {
            let Expr::Call(call) = b.value else {
                return None;
            };
            let is_loader = index
                .qualified_name(&call.func)
                .is_some_and(|q| DATA_LOADERS.contains(&q.as_str()));
            let visible = call.arguments.keywords.iter().all(|k| k.arg.is_some())
                && !call
                    .arguments
                    .args
                    .iter()
                    .any(|a| matches!(a, Expr::Starred(_)));
            (is_loader && visible).then_some(Loader {
                target: b.target.as_str(),
                call,
                function: b.function,
                range: b.range,
            })
        })
        .collect()
}

pub(crate) fn keyword<'a>(call: &'a ExprCall, name: &str) -> Option<&'a Expr> {
    call.arguments
        .keywords
        .iter()
        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
        .map(|k| &k.value)
}

/// An argument by keyword or position.
pub(crate) fn argument<'a>(call: &'a ExprCall, name: &str, position: usize) -> Option<&'a Expr> {
    keyword(call, name).or_else(|| call.arguments.args.get(position))
}

/// An evaluation loader by its name (`val_loader`, `test_dl`).
pub(crate) fn eval_name(target: &str) -> bool {
    let last = target
        .rsplit('.')
        .next()
        .unwrap_or(target)
        .to_ascii_lowercase();
    ["val", "valid", "eval", "test", "dev"]
        .iter()
        .any(|w| last.split('_').any(|p| p == *w) || last.starts_with(w))
}

/// The file is written for a framework that moves batches to the device itself.
pub(crate) fn framework_moves_batches(ctx: &Context) -> bool {
    ctx.index.imports.values().any(|q| moves_batches_itself(q))
}

/// Code in function `function` at `at` uses this binding of the loader: one made earlier in
/// the same function and not rebound since, one at module level, or `self.<name>` bound in a
/// method of the same class.
fn sees(ctx: &Context, loader: &Loader, function: Option<FunctionId>, at: TextSize) -> bool {
    let index = ctx.index;
    let class_of = |f: Option<FunctionId>| f.and_then(|f| index.functions[f].class);
    if function == loader.function {
        let end = loader.range.end();
        return end <= at
            && !index.bindings.iter().any(|b| {
                b.target == loader.target
                    && b.function == function
                    && b.range.start() >= end
                    && b.range.start() < at
            });
    }
    if loader.function.is_none() {
        // A module-level loader, unless the function has a parameter or a variable of the
        // same name.
        return function.is_none_or(|f| {
            !index
                .bindings
                .iter()
                .any(|b| b.function == Some(f) && b.target == loader.target)
                && !parameters(index.functions[f].def).any(|p| p == loader.target)
        });
    }
    loader.target.starts_with("self.")
        && class_of(function).is_some()
        && class_of(function) == class_of(loader.function)
}

/// The names of a function's parameters.
pub(crate) fn parameters(def: &StmtFunctionDef) -> impl Iterator<Item = &str> {
    let params = &def.parameters;
    params
        .posonlyargs
        .iter()
        .chain(&params.args)
        .chain(&params.kwonlyargs)
        .map(|p| p.parameter.name.as_str())
}

/// The loops of this file that iterate the loader.
pub(crate) fn iterating_loops(ctx: &Context, loader: &Loader) -> Vec<LoopId> {
    ctx.index
        .loops
        .iter()
        .enumerate()
        .filter(|(_, lp)| {
            lp.iterates_over.as_deref() == Some(loader.target)
                && sees(ctx, loader, lp.function, lp.range.start())
        })
        .map(|(id, _)| id)
        .collect()
}

/// Loops of functions of this file that iterate the loader under a parameter's name: the
/// loader passed to `train(model, train_loader)` and `def train(model, loader): for x in loader:`
/// (a parameter the function does not rebind).
pub(crate) fn helper_loops(ctx: &Context, loader: &Loader) -> Vec<LoopId> {
    let index = ctx.index;
    let mut out = Vec::new();
    for (id, call) in index.calls.iter().enumerate() {
        if !sees(ctx, loader, call.function, call.start()) {
            continue;
        }
        let args = &call.expr.arguments;
        if args.args.iter().any(|a| matches!(a, Expr::Starred(_))) {
            continue;
        }
        let passes = |e: &Expr| dotted(e).as_deref() == Some(loader.target);
        for f in helper_targets(index, id, call.class) {
            let params: Vec<&str> = parameters(index.functions[f].def).collect();
            // `self.helper(loader)`: the method's first parameter is `self`.
            let offset = usize::from(matches!(call.expr.func.as_ref(), Expr::Attribute(_)));
            let mut names: Vec<String> = args
                .args
                .iter()
                .enumerate()
                .filter(|(_, a)| passes(a))
                .filter_map(|(i, _)| params.get(i + offset).map(|p| p.to_string()))
                .collect();
            names.extend(
                args.keywords
                    .iter()
                    .filter(|k| passes(&k.value))
                    .filter_map(|k| k.arg.as_ref().map(|a| a.to_string())),
            );
            names.retain(|n| {
                !index
                    .bindings
                    .iter()
                    .any(|b| b.function == Some(f) && &b.target == n)
            });
            out.extend(index.loops.iter().enumerate().filter_map(|(lid, lp)| {
                (lp.function == Some(f)
                    && lp.iterates_over.as_ref().is_some_and(|n| names.contains(n)))
                .then_some(lid)
            }));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The calls of this file that pass the loader to a function of the project, with what that
/// function does (itself and through its callees).
pub(crate) fn passed_to(ctx: &Context, loader: &Loader) -> Vec<(CallId, Behaviour)> {
    let index = ctx.index;
    let target = loader.target;
    let mut out = Vec::new();
    for (id, call) in index.calls.iter().enumerate() {
        if !sees(ctx, loader, call.function, call.start()) {
            continue;
        }
        let passes = call
            .argument_values()
            .any(|a| dotted(a).as_deref() == Some(target));
        if !passes {
            continue;
        }
        let local = helper_targets(index, id, call.class);
        let behaviour = if !local.is_empty() {
            local
                .iter()
                .filter_map(|&f| ctx.project_function(f))
                .map(|s| ctx.project.behaviour(s))
                .fold(Behaviour::default(), Behaviour::union)
        } else {
            let Some(written) = dotted(&call.expr.func) else {
                continue;
            };
            match ctx.project.resolve_in(ctx.module, &written) {
                Some(s @ Symbol::Function(..)) => ctx.project.behaviour(s),
                _ => continue,
            }
        };
        out.push((id, behaviour));
    }
    out
}

/// The loader feeds training: a training loop of this file iterates it, or it
/// is passed to a function of the project that trains.
pub(crate) fn feeds_training(ctx: &Context, loader: &Loader) -> bool {
    let index = ctx.index;
    let iterated = index.training_loops.iter().any(|lp| match lp.scope {
        TrainingScope::Loop(lid) => {
            index.loops[lid].iterates_over.as_deref() == Some(loader.target)
        }
        TrainingScope::Function(_) => false,
    });
    iterated
        || passed_to(ctx, loader)
            .iter()
            .any(|(_, behaviour)| behaviour.trains())
}

/// What is known of a loader's dataset.
pub(crate) struct DatasetFacts {
    /// What it decodes per sample (`PIL.Image.open`, `torchvision.datasets.ImageFolder`).
    pub decodes: Option<String>,
    /// Indexable with a length (not an `IterableDataset`).
    pub map_style: bool,
    /// Small images held in memory (MNIST, CIFAR), directly or through a `Subset`.
    pub small: bool,
}

/// The dataset expression a loader loads from.
pub(crate) fn dataset_of<'a>(loader: &Loader<'a>) -> Option<&'a Expr> {
    argument(loader.call, "dataset", 0)
}

/// What the dataset expression is, when we can tell: a torchvision or `torch.utils.data`
/// dataset, or a dataset class of the project (through factories and base classes).
pub(crate) fn dataset_facts(
    ctx: &Context,
    dataset: &Expr,
    function: Option<FunctionId>,
    at: TextSize,
) -> Option<DatasetFacts> {
    let index = ctx.index;
    let call = match dataset {
        Expr::Call(c) => unchain(c),
        Expr::Name(_) => {
            let id = index.producer(function, dataset, at)?;
            unchain(index.calls[id].expr)
        }
        Expr::Attribute(_) => index.constructor_call_of(&dotted(dataset)?)?,
        _ => return None,
    };
    if let Some(q) = index.qualified_name(&call.func) {
        if decoding_dataset(&q) {
            return Some(DatasetFacts {
                decodes: Some(q),
                map_style: true,
                small: false,
            });
        }
        if map_style_dataset(&q) {
            // `Subset(MNIST(...), idx)`, `random_split(cifar, [45000, 5000])`: as small as
            // what they draw from.
            let small = small_sample_dataset(&q)
                || (DATASET_WRAPPERS.contains(&q.as_str())
                    && argument(call, "dataset", 0)
                        .filter(|inner| !std::ptr::eq(*inner, dataset))
                        .and_then(|inner| {
                            // What the name held before this call (`train_data, valid_data =
                            // random_split(train_data, ...)` rebinds it).
                            dataset_facts(ctx, inner, function, call.range().start())
                        })
                        .is_some_and(|facts| facts.small));
            return Some(DatasetFacts {
                decodes: None,
                map_style: true,
                small,
            });
        }
    }
    let written = dotted(&call.func)?;
    let symbol = ctx.project.class_of(ctx.module, &written)?;
    let chain = ctx.project.class_chain(symbol);
    let mut iterable = false;
    let mut indexable = false;
    for &s in &chain {
        let Some(class) = ctx.project.class(s) else {
            continue;
        };
        iterable |= class.bases.iter().any(|b| b.ends_with("IterableDataset"));
        indexable |= has_method(ctx, s, "__getitem__");
    }
    Some(DatasetFacts {
        decodes: chain
            .iter()
            .find_map(|&s| ctx.project.class(s)?.decodes.clone()),
        map_style: indexable && !iterable,
        small: false,
    })
}

/// The project class defines the method itself.
fn has_method(ctx: &Context, class: Symbol, method: &str) -> bool {
    let Symbol::Class(m, _) = class else {
        return false;
    };
    let Some(name) = ctx.project.class(class).map(|c| c.name.as_str()) else {
        return false;
    };
    ctx.project
        .module(m)
        .functions
        .iter()
        .any(|f| f.name == method && f.class.as_deref() == Some(name))
}

/// The file may put batches on a GPU (a CUDA device is named somewhere in it).
pub(crate) fn mentions_cuda(ctx: &Context) -> bool {
    ctx.index.source.text.contains("cuda")
}
