//! What classification losses expect as input, and which ops turn logits into probabilities
//! (used by the training rules; `losses` holds what a model's final activation does to a logit loss,
//! for the architecture rules).
//!
//! Source: PyTorch docs for `torch.nn.CrossEntropyLoss` ("The input is expected to contain the
//! unnormalized logits for each class"), `torch.nn.NLLLoss` ("The input given through a forward
//! call is expected to contain log-probabilities of each class"), `torch.nn.BCELoss` (input are
//! probabilities), `torch.nn.BCEWithLogitsLoss` ("combines a Sigmoid layer and the BCELoss in one
//! single class ... more numerically stable"):
//! <https://pytorch.org/docs/stable/nn.html#loss-functions>.

/// What a loss's first argument must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossInput {
    /// Raw scores: the loss applies log-softmax itself (`CrossEntropyLoss`).
    MulticlassLogits,
    /// Log-probabilities (`NLLLoss`).
    LogProbabilities,
    /// Probabilities in [0, 1] (`BCELoss`).
    BinaryProbabilities,
    /// Raw scores: the loss applies the sigmoid itself (`BCEWithLogitsLoss`).
    BinaryLogits,
}

#[derive(Debug, Clone, Copy)]
pub struct Loss {
    pub name: &'static str,
    pub input: LossInput,
    /// The idiomatic module form, for messages and fixes.
    pub module: &'static str,
}

const CE: Loss = Loss {
    name: "cross_entropy",
    input: LossInput::MulticlassLogits,
    module: "nn.CrossEntropyLoss",
};
const NLL: Loss = Loss {
    name: "nll_loss",
    input: LossInput::LogProbabilities,
    module: "nn.NLLLoss",
};
const BCE: Loss = Loss {
    name: "binary_cross_entropy",
    input: LossInput::BinaryProbabilities,
    module: "nn.BCELoss",
};
const BCE_LOGITS: Loss = Loss {
    name: "binary_cross_entropy_with_logits",
    input: LossInput::BinaryLogits,
    module: "nn.BCEWithLogitsLoss",
};

/// Qualified functions and module classes of the classification losses.
const LOSSES: &[(&str, Loss)] = &[
    ("torch.nn.functional.cross_entropy", CE),
    ("torch.nn.CrossEntropyLoss", CE),
    ("torch.nn.modules.loss.CrossEntropyLoss", CE),
    ("torch.nn.functional.nll_loss", NLL),
    ("torch.nn.NLLLoss", NLL),
    ("torch.nn.modules.loss.NLLLoss", NLL),
    ("torch.nn.functional.binary_cross_entropy", BCE),
    ("torch.nn.BCELoss", BCE),
    ("torch.nn.modules.loss.BCELoss", BCE),
    (
        "torch.nn.functional.binary_cross_entropy_with_logits",
        BCE_LOGITS,
    ),
    ("torch.nn.BCEWithLogitsLoss", BCE_LOGITS),
    ("torch.nn.modules.loss.BCEWithLogitsLoss", BCE_LOGITS),
];

pub fn loss(qualified: &str) -> Option<Loss> {
    LOSSES
        .iter()
        .find(|(q, _)| *q == qualified)
        .map(|(_, loss)| *loss)
}

/// Output activations that turn scores into (log-)probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Softmax,
    LogSoftmax,
    Sigmoid,
}

/// Functions and module classes of the activations (method forms `x.softmax()` are matched by
/// method name by the caller).
const ACTIVATIONS: &[(&str, Activation)] = &[
    ("torch.softmax", Activation::Softmax),
    ("torch.nn.functional.softmax", Activation::Softmax),
    ("torch.special.softmax", Activation::Softmax),
    ("torch.nn.Softmax", Activation::Softmax),
    ("torch.nn.Softmax2d", Activation::Softmax),
    ("torch.log_softmax", Activation::LogSoftmax),
    ("torch.nn.functional.log_softmax", Activation::LogSoftmax),
    ("torch.special.log_softmax", Activation::LogSoftmax),
    ("torch.nn.LogSoftmax", Activation::LogSoftmax),
    ("torch.sigmoid", Activation::Sigmoid),
    ("torch.nn.functional.sigmoid", Activation::Sigmoid),
    ("torch.special.expit", Activation::Sigmoid),
    ("torch.nn.Sigmoid", Activation::Sigmoid),
];

pub fn activation(qualified: &str) -> Option<Activation> {
    ACTIVATIONS
        .iter()
        .find(|(q, _)| *q == qualified)
        .map(|(_, a)| *a)
}

/// Tensor methods with the same meaning (`logits.softmax(dim=-1)`).
pub fn activation_method(method: &str) -> Option<Activation> {
    match method {
        "softmax" => Some(Activation::Softmax),
        "log_softmax" => Some(Activation::LogSoftmax),
        "sigmoid" => Some(Activation::Sigmoid),
        _ => None,
    }
}

/// Is feeding `activation`'s output to a loss expecting `input` a mistake, and how bad?
/// `Some(true)`: wrong result (error); `Some(false)`: works but numerically worse (warning).
pub fn mismatch(activation: Activation, input: LossInput) -> Option<bool> {
    match (activation, input) {
        (Activation::Softmax, LossInput::MulticlassLogits) => Some(true),
        (Activation::Softmax, LossInput::LogProbabilities) => Some(true),
        (Activation::Sigmoid, LossInput::BinaryLogits) => Some(true),
        (Activation::Sigmoid, LossInput::BinaryProbabilities) => Some(false),
        _ => None,
    }
}
