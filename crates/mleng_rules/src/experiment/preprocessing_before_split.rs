use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::experiment::{
    fit_learns_from_data, CROSS_VALIDATION_FUNCTIONS, CV_SPLITTERS, SPLIT_FUNCTIONS,
};
use mleng_python::index::{literals, Call};
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP005",
    name: "preprocessing-before-split",
    area: Area::Experiment,
    severity: Severity::Warning,
    fix: None,
    summary: "A scikit-learn scaler, encoder, imputer or feature selector is fit on all the data before `train_test_split`, K-fold splitting or `cross_val_score` (held-out rows leak into training).",
    docs: r#"## What it does
Finds data that is passed to `train_test_split` after a scikit-learn transformer that learns
from data (`StandardScaler`, `MinMaxScaler`, `OneHotEncoder`, `SimpleImputer`, `PCA`,
`SelectKBest`, `TfidfVectorizer`, ...) was fit on it in the same function:
`X = scaler.fit_transform(X)` or `scaler.fit(X)` followed by `X = scaler.transform(X)`, then
`train_test_split(X, y)`. The same for cross-validation on that data: `cross_val_score`,
`cross_validate`, `cross_val_predict` (`X` argument) and the folds of a splitter
(`KFold(5).split(X, y)`, `StratifiedKFold`, `GroupKFold`, `ShuffleSplit`, ...).

## Why is this bad?
The transformer's statistics (means and variances, min/max, categories, imputation values,
principal components, feature scores) are computed from the test rows too. The test set is no
longer unseen, and the score measured on it is optimistic: a feature selector fit on all
rows can report high accuracy on pure noise. scikit-learn's "Common pitfalls" guide gives this
as the canonical example of data leakage; Kapoor and Narayanan found leakage of this kind
among the main causes of irreproducible results in ML-based science.

## Example
```python
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

scaler = StandardScaler()
X = scaler.fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
```

## Use instead
```python
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
scaler = StandardScaler()
X_train = scaler.fit_transform(X_train)
X_test = scaler.transform(X_test)
```
or put the transformer in a `Pipeline`, which is fit on the training part only. For
cross-validation the `Pipeline` is the fix: each fold fits the scaler on its training rows.
```python
from sklearn.pipeline import make_pipeline

model = make_pipeline(StandardScaler(), LogisticRegression())
scores = cross_val_score(model, X, y, cv=5)
```

## References
- scikit-learn, "Common pitfalls and recommended practices: Data leakage": <https://scikit-learn.org/stable/common_pitfalls.html#data-leakage>
- scikit-learn, "Cross-validation: evaluating estimator performance" (data transformation with held-out data, pipelines): <https://scikit-learn.org/stable/modules/cross_validation.html>
- Kapoor & Narayanan, "Leakage and the reproducibility crisis in machine-learning-based science", Patterns 2023: <https://doi.org/10.1016/j.patter.2023.100804>
"#,
    check,
};

/// How held-out data is made from `X`.
enum Split {
    TrainTest,
    /// `cross_val_score(est, X, y)`: the function's short name.
    CrossValidation(&'static str),
    /// `kf.split(X, y)`: the splitter's short name.
    Folds(String),
}

/// The split a call makes and the arguments that are its data.
fn split_of<'i, 'a>(
    index: &SemanticIndex<'a>,
    call: &'i Call<'a>,
) -> Option<(Split, Vec<&'i Expr>)> {
    if let Some(q) = call.qualified.as_deref() {
        if SPLIT_FUNCTIONS.contains(&q) {
            return Some((Split::TrainTest, call.expr.arguments.args.iter().collect()));
        }
        if let Some((name, pos)) = CROSS_VALIDATION_FUNCTIONS.iter().find(|(n, _)| *n == q) {
            let short = name.rsplit('.').next().unwrap_or(name);
            return Some((
                Split::CrossValidation(short),
                call.arg_or_keyword(*pos, "X").into_iter().collect(),
            ));
        }
    }
    if call.method != Some("split") {
        return None;
    }
    let splitter = call
        .receiver_type
        .clone()
        .or_else(|| index.constructor_of(call.receiver.as_deref()?))?;
    if !CV_SPLITTERS.contains(&splitter.as_str()) {
        return None;
    }
    let short = splitter.rsplit('.').next().unwrap_or(&splitter).to_string();
    Some((
        Split::Folds(short),
        call.arg_or_keyword(0, "X").into_iter().collect(),
    ))
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let mut reported: Vec<ruff_text_size::TextRange> = Vec::new();
    for split in &index.calls {
        let Some((kind, data)) = split_of(index, split) else {
            continue;
        };
        for arg in data {
            let Some(name) = literals::dotted(arg) else {
                continue;
            };
            let Some((fit_call, transformer, ctor)) = leaky_fit(index, split, &name) else {
                continue;
            };
            if reported.contains(&fit_call.range()) {
                break;
            }
            reported.push(fit_call.range());
            let fit_text = ctx.text(fit_call.range()).to_string();
            let short_ctor = ctor.rsplit('.').next().unwrap_or(&ctor).to_string();
            let split_text = ctx.text(split.expr.func.range()).to_string();
            let (message, fix) = match &kind {
                Split::TrainTest => (
                    format!(
                        "`{fit_text}` fits the `{short_ctor}` on all rows before `train_test_split({name}, ...)` splits them: statistics of the test rows leak into training and the test score is optimistic"
                    ),
                    Fix::new(format!(
                        "Split first, then fit `{transformer}` on the training part only (or use a `Pipeline`)"
                    ))
                    .with_example(format!(
                        "X_train, X_test, y_train, y_test = train_test_split(X, y)\n{transformer} = {short_ctor}(...)\nX_train = {transformer}.fit_transform(X_train)\nX_test = {transformer}.transform(X_test)"
                    )),
                ),
                Split::CrossValidation(function) => (
                    format!(
                        "`{fit_text}` fits the `{short_ctor}` on all rows before `{split_text}(...)` cross-validates on `{name}`: every held-out fold was part of the fit, so the cross-validation score is optimistic"
                    ),
                    Fix::new(format!(
                        "Put the `{short_ctor}` in a `Pipeline` with the estimator, so each fold fits it on its training part only"
                    ))
                    .with_example(format!(
                        "from sklearn.pipeline import make_pipeline\n\nmodel = make_pipeline({short_ctor}(...), estimator)\nscores = {function}(model, X, y, cv=5)"
                    )),
                ),
                Split::Folds(splitter) => (
                    format!(
                        "`{fit_text}` fits the `{short_ctor}` on all rows before `{split_text}({name}, ...)` makes the `{splitter}` folds: every validation fold was part of the fit, so the fold scores are optimistic"
                    ),
                    Fix::new(format!(
                        "Fit the `{short_ctor}` inside each fold on the training rows only (or use a `Pipeline`)"
                    ))
                    .with_example(format!(
                        "for train_idx, val_idx in {split_text}(X, y):\n    {transformer} = {short_ctor}(...)\n    X_train = {transformer}.fit_transform(X[train_idx])\n    X_val = {transformer}.transform(X[val_idx])"
                    )),
                ),
            };
            let split_at = ctx.where_is(split.range());
            let finding = ctx.report(fit_call.range(), message, Some(fix));
            finding.evidence.push(format!("split at {split_at}"));
            break;
        }
    }
}

/// The fit call that made `name` (before `split`, same function), the transformer's name and
/// its constructor, when the transformer learns from data.
fn leaky_fit<'i, 'a>(
    index: &'i SemanticIndex<'a>,
    split: &Call<'a>,
    name: &str,
) -> Option<(&'i Call<'a>, String, String)> {
    let binding = index
        .bindings
        .iter()
        .filter(|b| {
            b.function == split.function && b.target == name && b.range.end() <= split.start()
        })
        .max_by_key(|b| b.range.start())?;
    let Expr::Call(value) = binding.value else {
        return None;
    };
    let call = &index.calls[index.call_id_at(value.range())?];
    // `MinMaxScaler().fit_transform(X)`: the transformer is built inline.
    if call.method == Some("fit_transform") {
        if let Expr::Attribute(attr) = &*call.expr.func {
            if let Expr::Call(inner) = &*attr.value {
                let ctor = index.qualified_name(&inner.func)?;
                if !fit_learns_from_data(&ctor) {
                    return None;
                }
                let name = if ctor.ends_with("Scaler") {
                    "scaler"
                } else {
                    "transformer"
                };
                return Some((call, name.to_string(), ctor));
            }
        }
    }
    let transformer = call.receiver.clone()?;
    let ctor = transformer_ctor(index, call)?;
    match call.method? {
        "fit_transform" => Some((call, transformer, ctor)),
        "transform" => {
            // `t.fit(X)` earlier in the function, on the same data that is transformed.
            let data = call.arg(0).and_then(literals::dotted)?;
            let fit = index.calls.iter().find(|c| {
                c.function == split.function
                    && c.method == Some("fit")
                    && c.receiver.as_deref() == Some(transformer.as_str())
                    && c.start() < call.start()
                    && c.arg(0).and_then(literals::dotted).as_deref() == Some(data.as_str())
            })?;
            Some((fit, transformer, ctor))
        }
        _ => None,
    }
}

fn transformer_ctor(index: &SemanticIndex, call: &Call) -> Option<String> {
    let ctor = call
        .receiver_type
        .clone()
        .or_else(|| index.constructor_of(call.receiver.as_deref()?))?;
    fit_learns_from_data(&ctor).then_some(ctor)
}
