//! Experiment-management facts: which calls seed which random number generator, which
//! packages are the ML frameworks whose versions decide results, and what the version
//! boundaries mean.

/// A random number generator a training run draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rng {
    Torch,
    Numpy,
    Python,
}

/// Calls that seed generators, by qualified name. Sources: `torch.manual_seed`
/// (<https://pytorch.org/docs/stable/generated/torch.manual_seed.html>), PyTorch's
/// reproducibility notes (<https://pytorch.org/docs/stable/notes/randomness.html>),
/// `lightning.seed_everything` (<https://lightning.ai/docs/pytorch/stable/common/trainer.html#reproducibility>),
/// `transformers.set_seed` (<https://huggingface.co/docs/transformers/main_classes/trainer#transformers.set_seed>),
/// `accelerate.utils.set_seed` (<https://huggingface.co/docs/accelerate/package_reference/utilities#accelerate.utils.set_seed>).
pub const SEED_CALLS: &[(&str, &[Rng])] = &[
    ("torch.manual_seed", &[Rng::Torch]),
    // Seeds only the CUDA generators: weight initialisation, CPU dropout and the DataLoader's
    // shuffling draw from the CPU generator, which stays unseeded.
    ("torch.cuda.manual_seed", &[]),
    ("torch.cuda.manual_seed_all", &[]),
    ("torch.random.manual_seed", &[Rng::Torch]),
    ("numpy.random.seed", &[Rng::Numpy]),
    ("numpy.random.default_rng", &[Rng::Numpy]),
    ("numpy.random.RandomState", &[Rng::Numpy]),
    ("random.seed", &[Rng::Python]),
    (
        "lightning.seed_everything",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "lightning.pytorch.seed_everything",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "lightning.fabric.seed_everything",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "lightning.fabric.utilities.seed.seed_everything",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "lightning.pytorch.utilities.seed.seed_everything",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "pytorch_lightning.seed_everything",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "pytorch_lightning.utilities.seed.seed_everything",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "transformers.set_seed",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "transformers.trainer_utils.set_seed",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "accelerate.utils.set_seed",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "accelerate.utils.random.set_seed",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "monai.utils.set_determinism",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "fastai.torch_core.set_seed",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "fastai.vision.all.set_seed",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "mmengine.runner.set_random_seed",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "ignite.utils.manual_seed",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "composer.utils.reproducibility.seed_all",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
    (
        "torchtune.training.set_seed",
        &[Rng::Torch, Rng::Numpy, Rng::Python],
    ),
];

/// What a seeding call seeds; `None` if it is not a known seeding call.
pub fn seeded_by(qualified: &str) -> Option<&'static [Rng]> {
    SEED_CALLS
        .iter()
        .find(|(name, _)| *name == qualified)
        .map(|(_, rngs)| *rngs)
}

/// Trainers that seed every run themselves unless told otherwise: Hugging Face `Trainer`
/// calls `set_seed(args.seed)` (default 42) before building the model
/// (<https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments.seed>).
pub const SELF_SEEDING_TRAINERS: &[&str] = &[
    "transformers.Trainer",
    "transformers.Seq2SeqTrainer",
    "transformers.trainer.Trainer",
    "trl.SFTTrainer",
];

/// Packages whose version changes numerical results or APIs of a training run, as written
/// in requirement files (PyPI and conda names). Sources: PyTorch's reproducibility notes
/// ("Completely reproducible results are not guaranteed across PyTorch releases",
/// <https://pytorch.org/docs/stable/notes/randomness.html>) and pip's guidance on repeatable
/// installs (<https://pip.pypa.io/en/stable/topics/repeatable-installs/>).
pub const FRAMEWORK_PACKAGES: &[&str] = &[
    "torch",
    "pytorch",
    "torchvision",
    "torchaudio",
    "lightning",
    "pytorch-lightning",
    "transformers",
    "accelerate",
    "timm",
    "tensorflow",
    "jax",
    "jaxlib",
    "keras",
];

/// PyTorch flipped `torch.load`'s default to `weights_only=True` in 2.6
/// (<https://github.com/pytorch/pytorch/releases/tag/v2.6.0>).
pub const TORCH_LOAD_SAFE_DEFAULT_SINCE: (u64, u64) = (2, 6);

/// `torch.load(weights_only=...)` exists since PyTorch 1.13
/// (<https://github.com/pytorch/pytorch/releases/tag/v1.13.0>, "Add `weights_only` option to
/// `torch.load`"); before it, the keyword reaches the pickle module and raises a `TypeError`.
pub const TORCH_LOAD_WEIGHTS_ONLY_SINCE: (u64, u64) = (1, 13);

/// scikit-learn estimators whose `fit` learns statistics from the data it sees (means,
/// variances, quantiles, categories, feature scores, components): fitting them on rows that
/// later become the test set leaks those rows into training. Stateless transformers
/// (`Normalizer`, `Binarizer`, `PolynomialFeatures`, `FunctionTransformer`) and `LabelEncoder`
/// on the targets are not listed. Source: scikit-learn, "Common pitfalls: Data leakage"
/// (<https://scikit-learn.org/stable/common_pitfalls.html#data-leakage>).
pub const LEAKY_FIT_PREFIXES: &[&str] = &[
    "sklearn.preprocessing.StandardScaler",
    "sklearn.preprocessing.MinMaxScaler",
    "sklearn.preprocessing.RobustScaler",
    "sklearn.preprocessing.MaxAbsScaler",
    "sklearn.preprocessing.QuantileTransformer",
    "sklearn.preprocessing.PowerTransformer",
    "sklearn.preprocessing.KBinsDiscretizer",
    "sklearn.preprocessing.OneHotEncoder",
    "sklearn.preprocessing.OrdinalEncoder",
    "sklearn.preprocessing.TargetEncoder",
    "sklearn.feature_selection.",
    "sklearn.decomposition.",
    "sklearn.impute.",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.CountVectorizer",
];

/// Whether fitting an instance of `qualified` learns from the data (see [`LEAKY_FIT_PREFIXES`]).
pub fn fit_learns_from_data(qualified: &str) -> bool {
    LEAKY_FIT_PREFIXES
        .iter()
        .any(|p| qualified == *p || (p.ends_with('.') && qualified.starts_with(p)))
}

/// Functions that split data into train and test parts.
pub const SPLIT_FUNCTIONS: &[&str] = &[
    "sklearn.model_selection.train_test_split",
    "sklearn.cross_validation.train_test_split",
];

/// Ways a script reads its configuration instead of hard-coding it, by qualified-name prefix.
/// Sources: the argparse, click, typer, Hydra, OmegaConf, Fire and Lightning CLI documentation.
pub const CONFIG_SOURCES: &[(&str, &str)] = &[
    ("argparse.ArgumentParser", "argparse"),
    ("click.", "click"),
    ("typer.", "typer"),
    ("hydra.main", "Hydra"),
    ("hydra.compose", "Hydra"),
    ("omegaconf.OmegaConf", "OmegaConf"),
    ("fire.Fire", "Fire"),
    ("torchtune.config.parse", "torchtune config"),
    ("jsonargparse.", "jsonargparse"),
    ("simple_parsing.", "simple-parsing"),
    ("ml_collections.", "ml_collections"),
    ("transformers.HfArgumentParser", "HfArgumentParser"),
    ("lightning.pytorch.cli.LightningCLI", "LightningCLI"),
    ("lightning.LightningCLI", "LightningCLI"),
    ("pytorch_lightning.cli.LightningCLI", "LightningCLI"),
    ("yaml.safe_load", "a YAML file"),
    ("yaml.load", "a YAML file"),
    ("tomllib.load", "a TOML file"),
    ("json.load", "a JSON file"),
];

/// Calls that record metrics of a run, by qualified-name prefix (receiver types included:
/// `torch.utils.tensorboard.SummaryWriter.add_scalar`). Sources: the TensorBoard
/// (`torch.utils.tensorboard`), Weights & Biases, MLflow, Comet, Neptune, Aim, ClearML,
/// Accelerate (`Accelerator.log`) and Fabric (`Fabric.log`) documentation.
pub const METRIC_LOGGERS: &[(&str, &str)] = &[
    (
        "torch.utils.tensorboard.SummaryWriter.add_scalar",
        "TensorBoard",
    ),
    (
        "torch.utils.tensorboard.SummaryWriter.add_scalars",
        "TensorBoard",
    ),
    ("tensorboardX.SummaryWriter.add_scalar", "TensorBoard"),
    ("wandb.log", "Weights & Biases"),
    ("wandb.init.log", "Weights & Biases"),
    ("mlflow.log_metric", "MLflow"),
    ("mlflow.log_metrics", "MLflow"),
    ("mlflow.autolog", "MLflow"),
    ("mlflow.pytorch.autolog", "MLflow"),
    ("comet_ml.", "Comet"),
    ("neptune.", "Neptune"),
    ("aim.Run", "Aim"),
    ("clearml.Task", "ClearML"),
    ("accelerate.Accelerator.log", "Accelerate trackers"),
    ("lightning.Fabric.log", "Fabric loggers"),
    ("lightning.Fabric.log_dict", "Fabric loggers"),
    ("csv.writer", "a CSV file"),
    ("csv.DictWriter", "a CSV file"),
];

/// Calls that record a run's configuration. Sources: `SummaryWriter.add_hparams`,
/// `wandb.init(config=...)` / `wandb.config`, `mlflow.log_params`,
/// `LightningModule.save_hyperparameters`, `Accelerator.init_trackers(config=...)`.
pub const CONFIG_RECORDERS: &[&str] = &[
    "torch.utils.tensorboard.SummaryWriter.add_hparams",
    "tensorboardX.SummaryWriter.add_hparams",
    "wandb.config.update",
    "mlflow.log_param",
    "mlflow.log_params",
    "mlflow.log_dict",
    "omegaconf.OmegaConf.save",
    "yaml.dump",
    "yaml.safe_dump",
    "json.dump",
];

/// Trainers that track metrics, record hyperparameters and write resumable checkpoints by
/// default (Lightning's default logger is TensorBoard/CSV and `ModelCheckpoint` saves optimizer
/// and loop state; Hugging Face `Trainer` logs, saves `training_args.bin` and optimizer state).
pub const FULL_SERVICE_TRAINERS: &[&str] = &[
    "lightning.Trainer",
    "lightning.pytorch.Trainer",
    "pytorch_lightning.Trainer",
    "transformers.Trainer",
    "transformers.Seq2SeqTrainer",
    "trl.SFTTrainer",
];

/// Samplers that shuffle, with the position of their `generator` argument. Without a generator
/// each epoch's order is drawn from the global torch generator (`RandomSampler.__iter__` draws
/// a seed with `torch.empty((), dtype=torch.int64).random_()`), so it depends on every random
/// draw made before it. Source: `torch.utils.data` samplers
/// (<https://pytorch.org/docs/stable/data.html#data-loading-order-and-sampler>) and PyTorch's
/// reproducibility notes, "DataLoader" (<https://pytorch.org/docs/stable/notes/randomness.html#dataloader>).
pub const SHUFFLING_SAMPLERS: &[(&str, usize)] = &[
    ("torch.utils.data.RandomSampler", 3),
    ("torch.utils.data.sampler.RandomSampler", 3),
    ("torch.utils.data.SubsetRandomSampler", 1),
    ("torch.utils.data.sampler.SubsetRandomSampler", 1),
    ("torch.utils.data.WeightedRandomSampler", 3),
    ("torch.utils.data.sampler.WeightedRandomSampler", 3),
];

/// `torch.utils.data.DataLoader` by its qualified names. `DataLoader(shuffle=True)` builds a
/// `RandomSampler` with the loader's `generator` (<https://pytorch.org/docs/stable/data.html#torch.utils.data.DataLoader>).
pub const DATA_LOADERS: &[&str] = &[
    "torch.utils.data.DataLoader",
    "torch.utils.data.dataloader.DataLoader",
];

/// PyTorch reseeds NumPy's global generator in each DataLoader worker since 1.9; before, every
/// worker inherited the parent's NumPy state and drew the same numbers (Python's `random` and
/// torch have been reseeded per worker in all versions). Sources: pytorch/pytorch#56488
/// (<https://github.com/pytorch/pytorch/pull/56488>), PyTorch 1.9 release notes
/// (<https://github.com/pytorch/pytorch/releases/tag/v1.9.0>), and the DataLoader docs,
/// "Randomness in multi-process data loading" (<https://pytorch.org/docs/stable/data.html#randomness-in-multi-process-data-loading>).
pub const NUMPY_WORKER_RESEEDING_SINCE: (u64, u64) = (1, 9);

/// Cross-validation functions, with the position of their data argument (`X`). Source:
/// scikit-learn, "Cross-validation: evaluating estimator performance"
/// (<https://scikit-learn.org/stable/modules/cross_validation.html>); fitting a scaler before
/// cross-validation leaks the held-out folds (same page, "Data transformation with held out data").
pub const CROSS_VALIDATION_FUNCTIONS: &[(&str, usize)] = &[
    ("sklearn.model_selection.cross_val_score", 1),
    ("sklearn.model_selection.cross_validate", 1),
    ("sklearn.model_selection.cross_val_predict", 1),
];

/// Cross-validation splitters whose `.split(X, ...)` yields train/test folds.
pub const CV_SPLITTERS: &[&str] = &[
    "sklearn.model_selection.KFold",
    "sklearn.model_selection.StratifiedKFold",
    "sklearn.model_selection.GroupKFold",
    "sklearn.model_selection.StratifiedGroupKFold",
    "sklearn.model_selection.RepeatedKFold",
    "sklearn.model_selection.RepeatedStratifiedKFold",
    "sklearn.model_selection.ShuffleSplit",
    "sklearn.model_selection.StratifiedShuffleSplit",
    "sklearn.model_selection.LeaveOneOut",
];

/// The main ML libraries by import name, with the names they go by in requirement files
/// (PyPI and conda). The reproducibility scorecard asks that each one a training entry point
/// imports is pinned or bounded. Same sources as [`FRAMEWORK_PACKAGES`].
pub const ML_LIBRARY_IMPORTS: &[(&str, &[&str])] = &[
    ("torch", &["torch", "pytorch"]),
    ("torchvision", &["torchvision"]),
    ("torchaudio", &["torchaudio"]),
    ("lightning", &["lightning"]),
    ("pytorch_lightning", &["pytorch-lightning", "lightning"]),
    ("transformers", &["transformers"]),
    ("accelerate", &["accelerate"]),
    ("timm", &["timm"]),
    ("tensorflow", &["tensorflow"]),
    ("jax", &["jax"]),
    ("keras", &["keras"]),
];
