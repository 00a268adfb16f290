use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::experiment::{fit_learns_from_data, SPLIT_FUNCTIONS};
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
    fixable: false,
    summary: "A scikit-learn scaler, encoder, imputer or feature selector is fit on all the data before `train_test_split` (test rows leak into training).",
    docs: r#"## What it does
Finds data that is passed to `train_test_split` after a scikit-learn transformer that learns
from data (`StandardScaler`, `MinMaxScaler`, `OneHotEncoder`, `SimpleImputer`, `PCA`,
`SelectKBest`, `TfidfVectorizer`, ...) was fit on it in the same function:
`X = scaler.fit_transform(X)` or `scaler.fit(X)` followed by `X = scaler.transform(X)`, then
`train_test_split(X, y)`.

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
or put the transformer in a `Pipeline`, which is fit on the training part only.

## References
- scikit-learn, "Common pitfalls and recommended practices: Data leakage": <https://scikit-learn.org/stable/common_pitfalls.html#data-leakage>
- Kapoor & Narayanan, "Leakage and the reproducibility crisis in machine-learning-based science", Patterns 2023: <https://doi.org/10.1016/j.patter.2023.100804>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for split in index.calls.iter().filter(|c| {
        c.qualified
            .as_deref()
            .is_some_and(|q| SPLIT_FUNCTIONS.contains(&q))
    }) {
        for arg in &split.expr.arguments.args {
            let Some(name) = literals::dotted(arg) else {
                continue;
            };
            let Some((fit_call, transformer, ctor)) = leaky_fit(index, split, &name) else {
                continue;
            };
            let fit_text = ctx.text(fit_call.range()).to_string();
            let short_ctor = ctor.rsplit('.').next().unwrap_or(&ctor).to_string();
            let message = format!(
                "`{fit_text}` fits the `{short_ctor}` on all rows before `train_test_split({name}, ...)` splits them: statistics of the test rows leak into training and the test score is optimistic"
            );
            let fix = Fix::new(format!(
                "Split first, then fit `{transformer}` on the training part only (or use a `Pipeline`)"
            ))
            .with_example(format!(
                "X_train, X_test, y_train, y_test = train_test_split(X, y)\n{transformer} = {short_ctor}(...)\nX_train = {transformer}.fit_transform(X_train)\nX_test = {transformer}.transform(X_test)"
            ));
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
