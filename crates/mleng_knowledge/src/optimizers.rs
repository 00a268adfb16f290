//! Usual learning-rate ranges per optimizer family, for flagging literals far outside them.
//!
//! Sources: PyTorch defaults (`Adam`/`AdamW` lr=1e-3, `SGD` requires lr); Kingma & Ba 2015
//! (Adam, alpha=0.001); Devlin et al. 2019 and Hugging Face fine-tuning recipes (BERT fine-tuning
//! 2e-5..5e-5); Goyal et al. 2017 (SGD on ImageNet, lr = 0.1 x batch/256, so above 1 only for
//! batch sizes beyond 2560 with warmup); Vaswani et al. 2017 (Transformer peak lr ~1e-3 with
//! warmup). The bounds are deliberately wide: a value outside them is almost never intended.

#[derive(Debug, Clone, Copy)]
pub struct LrRange {
    pub family: &'static str,
    /// Above this, training usually diverges.
    pub high: f64,
    /// Above this, for attention/recurrent models (which are less tolerant), usually diverges.
    pub high_for_transformers: f64,
    /// Below this, nothing measurable happens in a normal run.
    pub low: f64,
}

const ADAM: LrRange = LrRange {
    family: "Adam",
    high: 0.1,
    high_for_transformers: 0.01,
    low: 1e-7,
};
const SGD: LrRange = LrRange {
    family: "SGD",
    high: 1.0,
    high_for_transformers: 1.0,
    low: 1e-6,
};

const OPTIMIZERS: &[(&str, LrRange)] = &[
    ("torch.optim.Adam", ADAM),
    ("torch.optim.AdamW", ADAM),
    ("torch.optim.NAdam", ADAM),
    ("torch.optim.RAdam", ADAM),
    ("torch.optim.Adamax", ADAM),
    ("torch.optim.SGD", SGD),
];

pub fn lr_range(qualified: &str) -> Option<LrRange> {
    OPTIMIZERS
        .iter()
        .find(|(q, _)| *q == qualified)
        .map(|(_, r)| *r)
}
