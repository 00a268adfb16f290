//! TRN009's Lightning half: a per-batch schedule returned from `configure_optimizers` without
//! `"interval": "step"` is stepped once per epoch by Lightning (its default interval), so a
//! warmup over 1,000 steps takes 1,000 epochs and OneCycleLR never leaves its warm-up.
//!
//! Read from the returns of `configure_optimizers`: `[opt], [sched]`, `([opt], [config])`,
//! `{"optimizer": opt, "lr_scheduler": sched | config}` and lists of such dicts, with names
//! resolved through the method's own assignments. Anything dynamic (`**kwargs`, an interval
//! held in a variable, a scheduler built elsewhere) is left alone.

use mleng_python::index::FunctionId;
use mleng_python::SemanticIndex;
use ruff_python_ast::{Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};

/// A scheduler that Lightning will step per epoch although it is built to be stepped per batch.
pub(crate) struct EpochStepped {
    /// Where the scheduler (or its config dict) is returned.
    pub range: TextRange,
    /// The scheduler's qualified type.
    pub ty: String,
    /// `"interval": "epoch"` written out (rather than Lightning's default).
    pub explicit_epoch: bool,
}

/// Per-batch schedules returned from `configure_optimizers` in this file without
/// `"interval": "step"`. `per_batch` says which scheduler types are per-batch schedules.
pub(crate) fn epoch_stepped(
    index: &SemanticIndex,
    per_batch: impl Fn(&str) -> bool,
) -> Vec<EpochStepped> {
    let mut found = Vec::new();
    for (fid, function) in index.functions.iter().enumerate() {
        if function.name != "configure_optimizers" || function.class.is_none() {
            continue;
        }
        // A module that also steps its scheduler by hand (`self.lr_schedulers().step()` in
        // `training_step`, `self.scheduler.step()` in a hook) has another problem; the
        // per-epoch claim would not be the whole story there.
        let steps_by_hand = index.calls.iter().any(|c| {
            c.class == function.class
                && c.function != Some(fid)
                && c.method == Some("step")
                && index
                    .text(c.expr.func.range())
                    .to_ascii_lowercase()
                    .contains("sched")
        });
        if steps_by_hand {
            continue;
        }
        let mut returns = Vec::new();
        collect_returns(&function.def.body, &mut returns);
        for value in returns {
            for (anchor, scheduler, config) in schedulers_in(index, fid, value) {
                let interval = match config {
                    Some(config) => match dict_get(index, fid, config, "interval") {
                        Lookup::Missing => None,
                        Lookup::Found(Expr::StringLiteral(s)) => Some(s.value.to_str().to_string()),
                        // A variable or an f-string: not ours to judge.
                        Lookup::Found(_) | Lookup::Dynamic => continue,
                    },
                    None => None,
                };
                if interval.as_deref() == Some("step") {
                    continue;
                }
                let Some(ty) = constructor_type(index, fid, scheduler) else {
                    continue;
                };
                if per_batch(&ty) {
                    found.push(EpochStepped {
                        range: anchor.range(),
                        ty,
                        explicit_epoch: interval.is_some(),
                    });
                }
            }
        }
    }
    found
}

fn collect_returns<'a>(body: &'a [Stmt], out: &mut Vec<&'a Expr>) {
    for stmt in body {
        match stmt {
            Stmt::Return(r) => out.extend(r.value.as_deref()),
            Stmt::If(s) => {
                collect_returns(&s.body, out);
                for clause in &s.elif_else_clauses {
                    collect_returns(&clause.body, out);
                }
            }
            Stmt::With(s) => collect_returns(&s.body, out),
            Stmt::Try(s) => {
                collect_returns(&s.body, out);
                collect_returns(&s.orelse, out);
                collect_returns(&s.finalbody, out);
            }
            Stmt::For(s) => collect_returns(&s.body, out),
            Stmt::While(s) => collect_returns(&s.body, out),
            _ => {}
        }
    }
}

/// A name assigned in `configure_optimizers` (its last assignment), else the expression.
fn resolve<'a>(index: &SemanticIndex<'a>, fid: FunctionId, expr: &'a Expr) -> &'a Expr {
    let Expr::Name(name) = expr else {
        return expr;
    };
    index
        .bindings
        .iter()
        .rfind(|b| {
            b.function == Some(fid) && b.target == name.id.as_str() && b.range.end() <= expr.start()
        })
        .map_or(expr, |b| b.value)
}

/// Where the return names it (what a finding points at), the scheduler expression, and its
/// config dict if any, for every scheduler a return hands over.
type Handed<'a> = (&'a Expr, &'a Expr, Option<&'a Expr>);

fn schedulers_in<'a>(
    index: &SemanticIndex<'a>,
    fid: FunctionId,
    value: &'a Expr,
) -> Vec<Handed<'a>> {
    let value = resolve(index, fid, value);
    let mut out = Vec::new();
    match value {
        // `[opt], [sched]` / `([opt1, opt2], [sched1, sched2])`
        Expr::Tuple(t) if t.elts.len() == 2 => {
            let schedulers = resolve(index, fid, &t.elts[1]);
            for item in elements(schedulers) {
                out.extend(scheduler_or_config(index, fid, item));
            }
        }
        // `{"optimizer": opt, "lr_scheduler": ...}`
        Expr::Dict(_) => {
            if let Some(entry) = dict_value(value, "lr_scheduler") {
                out.extend(scheduler_or_config(index, fid, entry));
            }
        }
        // `[{"optimizer": ..., "lr_scheduler": ...}, ...]`
        Expr::List(_) => {
            for item in elements(value) {
                let item = resolve(index, fid, item);
                if let Some(entry) = dict_value(item, "lr_scheduler") {
                    out.extend(scheduler_or_config(index, fid, entry));
                }
            }
        }
        _ => {}
    }
    out
}

fn elements(expr: &Expr) -> &[Expr] {
    match expr {
        Expr::List(l) => &l.elts,
        Expr::Tuple(t) => &t.elts,
        _ => &[],
    }
}

/// A scheduler, or a config dict `{"scheduler": sched, "interval": ...}`.
fn scheduler_or_config<'a>(
    index: &SemanticIndex<'a>,
    fid: FunctionId,
    anchor: &'a Expr,
) -> Option<Handed<'a>> {
    let item = resolve(index, fid, anchor);
    match item {
        Expr::Dict(_) => match dict_get(index, fid, item, "scheduler") {
            Lookup::Found(scheduler) => Some((anchor, scheduler, Some(item))),
            _ => None,
        },
        _ => Some((anchor, item, None)),
    }
}

/// `dict[key]` of a dict literal, unresolved (a finding points where the code names it).
fn dict_value<'a>(dict: &'a Expr, key: &str) -> Option<&'a Expr> {
    let Expr::Dict(d) = dict else { return None };
    d.items
        .iter()
        .find(|item| matches!(&item.key, Some(Expr::StringLiteral(s)) if s.value.to_str() == key))
        .map(|item| &item.value)
}

enum Lookup<'a> {
    Found(&'a Expr),
    Missing,
    /// The dict unpacks another (`**base`) or is not a literal: the key may be anywhere.
    Dynamic,
}

/// `dict[key]` of a dict literal (or `dict(key=...)`), a name resolved first.
fn dict_get<'a>(
    index: &SemanticIndex<'a>,
    fid: FunctionId,
    dict: &'a Expr,
    key: &str,
) -> Lookup<'a> {
    match resolve(index, fid, dict) {
        Expr::Dict(d) => {
            if d.items.iter().any(|item| item.key.is_none()) {
                return Lookup::Dynamic;
            }
            let found = d.items.iter().find(
                |item| matches!(&item.key, Some(Expr::StringLiteral(s)) if s.value.to_str() == key),
            );
            match found {
                Some(item) => Lookup::Found(resolve(index, fid, &item.value)),
                None => Lookup::Missing,
            }
        }
        Expr::Call(call) if matches!(&*call.func, Expr::Name(n) if n.id.as_str() == "dict") => {
            if !call.arguments.args.is_empty()
                || call.arguments.keywords.iter().any(|k| k.arg.is_none())
            {
                return Lookup::Dynamic;
            }
            match call
                .arguments
                .keywords
                .iter()
                .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == key))
            {
                Some(k) => Lookup::Found(resolve(index, fid, &k.value)),
                None => Lookup::Missing,
            }
        }
        _ => Lookup::Dynamic,
    }
}

/// The qualified name of the constructor that builds the scheduler.
fn constructor_type(index: &SemanticIndex, fid: FunctionId, scheduler: &Expr) -> Option<String> {
    match resolve(index, fid, scheduler) {
        Expr::Call(call) => index.qualified_name(&call.func),
        _ => None,
    }
}
