//! Facts about image pipelines shared by the CV rules: `Normalize` calls with their literal
//! statistics, `Compose` pipelines in order, and the pretrained weights a file loads.

use mleng_knowledge::normalization::{self, Expectation, CLIP, IMAGENET};
use mleng_python::index::literals::{boolean, is_none, number, numbers, string};
use mleng_python::index::{Call, CallId};
use mleng_python::SemanticIndex;
use ruff_python_ast::{Expr, ExprCall};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Library {
    TorchvisionV1,
    TorchvisionV2,
    /// `torchvision.transforms.functional.normalize(tensor, mean, std)`.
    Functional,
    Albumentations,
}

#[derive(Debug)]
pub(crate) struct NormalizeCall {
    pub call: CallId,
    pub library: Library,
    pub mean: Option<Vec<f64>>,
    pub std: Option<Vec<f64>>,
    /// albumentations' `max_pixel_value` (default 255.0).
    pub max_pixel_value: Option<f64>,
}

pub(crate) fn library_of(qualified: &str) -> Option<Library> {
    if qualified.starts_with("torchvision.transforms.v2") {
        Some(Library::TorchvisionV2)
    } else if qualified.starts_with("torchvision.transforms.functional") {
        Some(Library::Functional)
    } else if qualified.starts_with("torchvision.transforms") {
        Some(Library::TorchvisionV1)
    } else if qualified.starts_with("albumentations") {
        Some(Library::Albumentations)
    } else {
        None
    }
}

pub(crate) fn normalize_calls(index: &SemanticIndex) -> Vec<NormalizeCall> {
    let mut out = Vec::new();
    for (id, call) in index.calls.iter().enumerate() {
        let Some(q) = call.qualified.as_deref() else {
            continue;
        };
        let short = q.rsplit('.').next().unwrap_or(q);
        let Some(library) = library_of(q) else {
            continue;
        };
        let (mean, std) = match (library, short) {
            (Library::Functional, "normalize") => (
                call.arg_or_keyword(1, "mean"),
                call.arg_or_keyword(2, "std"),
            ),
            (Library::Functional, _) => continue,
            (_, "Normalize") => (
                call.arg_or_keyword(0, "mean"),
                call.arg_or_keyword(1, "std"),
            ),
            _ => continue,
        };
        let (mut mean, mut std) = (mean.and_then(numbers), std.and_then(numbers));
        if library == Library::Albumentations {
            // albumentations defaults to the ImageNet statistics on the 0-1 scale.
            if call.arg_or_keyword(0, "mean").is_none() {
                mean = Some(IMAGENET.mean.to_vec());
            }
            if call.arg_or_keyword(1, "std").is_none() {
                std = Some(IMAGENET.std.to_vec());
            }
        }
        let max_pixel_value = match library {
            Library::Albumentations => match call.keyword("max_pixel_value") {
                Some(expr) => number(expr),
                None => Some(255.0),
            },
            _ => None,
        };
        out.push(NormalizeCall {
            call: id,
            library,
            mean,
            std,
            max_pixel_value,
        });
    }
    out
}

/// A transform pipeline: `Compose([...])` with its steps in order (`None` for a step we cannot see).
pub(crate) struct Pipeline<'a> {
    pub steps: Vec<Option<&'a ExprCall>>,
}

pub(crate) fn pipelines<'a>(index: &'a SemanticIndex<'a>) -> Vec<Pipeline<'a>> {
    index
        .calls
        .iter()
        .filter(|call| {
            call.qualified
                .as_deref()
                .is_some_and(|q| q.ends_with(".Compose") && library_of(q).is_some())
        })
        .filter_map(|call| {
            let list = call.arg(0).or_else(|| call.keyword("transforms"))?;
            let elts = match list {
                Expr::List(list) => &list.elts,
                Expr::Tuple(tuple) => &tuple.elts,
                _ => return None,
            };
            Some(Pipeline {
                steps: elts
                    .iter()
                    .map(|e| match e {
                        Expr::Call(c) => Some(c),
                        _ => None,
                    })
                    .collect(),
            })
        })
        .collect()
}

/// A pretrained model the file loads, and what input normalization its weights expect.
pub(crate) struct PretrainedLoad {
    pub call: CallId,
    pub description: String,
    /// `None`: pretrained, but we do not know its statistics (we then say nothing).
    pub expectation: Option<Expectation>,
}

pub(crate) fn pretrained_loads(index: &SemanticIndex) -> Vec<PretrainedLoad> {
    let mut out = Vec::new();
    for (id, call) in index.calls.iter().enumerate() {
        let Some(q) = call.qualified.as_deref() else {
            continue;
        };
        let text = || {
            index
                .text(call.range())
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        };
        if q.starts_with("torchvision.models.") {
            if !loads_torchvision_weights(call) {
                continue;
            }
            out.push(PretrainedLoad {
                call: id,
                description: text(),
                expectation: normalization::torchvision(q),
            });
        } else if q == "timm.create_model" || q == "timm.models.create_model" {
            if !call
                .keyword("pretrained")
                .and_then(boolean)
                .unwrap_or(false)
            {
                continue;
            }
            let expectation = call
                .arg_or_keyword(0, "model_name")
                .and_then(string)
                .and_then(normalization::timm)
                .map(Expectation::Stats);
            out.push(PretrainedLoad {
                call: id,
                description: text(),
                expectation,
            });
        } else if q == "clip.load"
            || (q.starts_with("transformers.CLIP") && q.ends_with("from_pretrained"))
        {
            out.push(PretrainedLoad {
                call: id,
                description: text(),
                expectation: Some(Expectation::Stats(CLIP)),
            });
        }
    }
    out
}

/// `weights=<not None>` or `pretrained=True` on a torchvision builder.
fn loads_torchvision_weights(call: &Call) -> bool {
    if let Some(weights) = call.keyword("weights") {
        return !is_none(weights) && !matches!(string(weights), Some(s) if s.is_empty());
    }
    call.keyword("pretrained")
        .and_then(boolean)
        .unwrap_or(false)
}

pub(crate) fn format_stats(values: &[f64]) -> String {
    let parts: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
    format!("({})", parts.join(", "))
}
