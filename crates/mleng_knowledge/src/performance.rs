//! Calls that cost GPU time when they run on every training step.
//!
//! Sources:
//! - PyTorch Performance Tuning Guide, "Avoid unnecessary CPU-GPU synchronization" (lists
//!   `print(cuda_tensor)`, `cuda_tensor.item()`, memory copies `tensor.cuda()` /
//!   `cuda_tensor.cpu()`, Python control flow on CUDA tensors, `nonzero()`):
//!   <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>
//! - CUDA semantics, "Memory management" (`empty_cache()` releases cached blocks, it does not
//!   make more memory available to PyTorch): <https://pytorch.org/docs/stable/notes/cuda.html#memory-management>
//! - `torch.cuda.synchronize`: "Wait for all kernels in all streams on a CUDA device to
//!   complete": <https://pytorch.org/docs/stable/generated/torch.cuda.synchronize.html>

/// Release the caching allocator's free blocks to the driver.
pub const EMPTY_CACHE: &[&str] = &["torch.cuda.empty_cache", "torch.cuda.memory.empty_cache"];

/// Block the host until the device has finished all queued work.
pub const DEVICE_SYNCHRONIZE: &[&str] =
    &["torch.cuda.synchronize", "torch.cuda.Stream.synchronize"];

/// Clocks: a synchronize next to one of them is there to time the step (deliberate).
pub const CLOCKS: &[&str] = &[
    "time.time",
    "time.perf_counter",
    "time.monotonic",
    "time.process_time",
    "timeit.default_timer",
];

/// Tensor methods that copy a CUDA tensor to the host and wait for it (a synchronization).
pub const HOST_COPY_METHODS: &[&str] = &["cpu", "numpy", "tolist"];

/// Functions that read and decode an image, audio, video or medical-image file: a dataset whose
/// `__getitem__` calls one does CPU-heavy work per sample, which `DataLoader` workers run in
/// parallel with the GPU (PyTorch Performance Tuning Guide, "Enable async data loading and
/// augmentation"; `torch.utils.data` docs, "Single- and Multi-process Data Loading").
pub const FILE_DECODERS: &[&str] = &[
    "PIL.Image.open",
    "cv2.imread",
    "cv2.imdecode",
    "cv2.VideoCapture",
    "imageio.imread",
    "imageio.v2.imread",
    "imageio.v3.imread",
    "skimage.io.imread",
    "matplotlib.pyplot.imread",
    "tifffile.imread",
    "torchvision.io.read_image",
    "torchvision.io.decode_image",
    "torchvision.io.decode_jpeg",
    "torchvision.io.read_video",
    "torchvision.datasets.folder.default_loader",
    "torchvision.datasets.folder.pil_loader",
    "torchaudio.load",
    "librosa.load",
    "soundfile.read",
    "scipy.io.wavfile.read",
    "nibabel.load",
    "SimpleITK.ReadImage",
    "pydicom.dcmread",
    "pydicom.read_file",
];

/// torchvision datasets that open and decode one file per sample (not the in-memory arrays of
/// MNIST, CIFAR or SVHN): their `__getitem__` calls a PIL loader.
pub const DECODING_DATASETS: &[&str] = &[
    "ImageFolder",
    "DatasetFolder",
    "ImageNet",
    "VOCSegmentation",
    "VOCDetection",
    "CocoDetection",
    "CocoCaptions",
    "Cityscapes",
    "CelebA",
    "Places365",
    "Flowers102",
    "OxfordIIITPet",
    "Food101",
    "StanfordCars",
    "Caltech101",
    "Caltech256",
    "SBDataset",
    "Kinetics",
    "UCF101",
    "HMDB51",
];

/// A qualified dataset constructor that decodes a file per sample
/// (`torchvision.datasets.ImageFolder`, `torchvision.datasets.folder.ImageFolder`).
pub fn decoding_dataset(qualified: &str) -> bool {
    qualified.starts_with("torchvision.datasets.")
        && qualified
            .rsplit('.')
            .next()
            .is_some_and(|name| DECODING_DATASETS.contains(&name))
}

/// Frameworks that move each batch to the device themselves (and decide how to pin and copy
/// it): code written for them has no `.to(device)` of its own to judge, and their own settings
/// own the transfer. Matched against the file's imports (a module, or a class under it).
/// - Accelerate: `Accelerator.prepare(loader)` returns a loader that places batches on the
///   device (`DataLoaderConfiguration(non_blocking=...)`):
///   <https://huggingface.co/docs/accelerate/package_reference/accelerator>
/// - Lightning: the Trainer moves batches (`transfer_batch_to_device`), Fabric's
///   `setup_dataloaders` too: <https://lightning.ai/docs/pytorch/stable/accelerators/accelerator_prepare.html>
/// - Hugging Face `Trainer`: `dataloader_pin_memory=True` by default and moves inputs itself:
///   <https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments.dataloader_pin_memory>
/// - PyTorch-Ignite: `create_supervised_trainer(..., non_blocking=...)` moves batches in its
///   `prepare_batch`: <https://pytorch.org/ignite/generated/ignite.engine.create_supervised_trainer.html>
pub const FRAMEWORKS_MOVING_BATCHES: &[&str] = &[
    "accelerate",
    "lightning",
    "pytorch_lightning",
    "transformers.Trainer",
    "transformers.Seq2SeqTrainer",
    "ignite",
];

/// Does a qualified import belong to a framework that moves batches itself?
pub fn moves_batches_itself(qualified: &str) -> bool {
    FRAMEWORKS_MOVING_BATCHES.iter().any(|f| {
        qualified == *f
            || qualified
                .strip_prefix(f)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Map-style datasets of `torch.utils.data` (indexable, with a length), beside torchvision's
/// datasets, which are all map-style: `torch.utils.data` docs, "Dataset Types":
/// <https://pytorch.org/docs/stable/data.html#dataset-types>.
pub const MAP_STYLE_DATASETS: &[&str] = &[
    "torch.utils.data.TensorDataset",
    "torch.utils.data.Subset",
    "torch.utils.data.ConcatDataset",
    "torch.utils.data.random_split",
    "torch.utils.data.dataset.TensorDataset",
    "torch.utils.data.dataset.Subset",
    "torch.utils.data.dataset.ConcatDataset",
    "torch.utils.data.dataset.random_split",
];

/// A qualified dataset constructor known to build a map-style dataset.
pub fn map_style_dataset(qualified: &str) -> bool {
    MAP_STYLE_DATASETS.contains(&qualified) || qualified.starts_with("torchvision.datasets.")
}

/// `torch` functions that return a new tensor (on the CPU unless given a `device`): a value
/// bound from one of them is known to be a tensor. Sources: "Tensor Creation Ops" and
/// "Indexing, Slicing, Joining, Mutating Ops" of the `torch` reference:
/// <https://pytorch.org/docs/stable/torch.html#creation-ops>.
pub const TENSOR_FACTORIES: &[&str] = &[
    "torch.tensor",
    "torch.as_tensor",
    "torch.from_numpy",
    "torch.zeros",
    "torch.ones",
    "torch.empty",
    "torch.full",
    "torch.rand",
    "torch.randn",
    "torch.randint",
    "torch.randperm",
    "torch.arange",
    "torch.linspace",
    "torch.logspace",
    "torch.eye",
    "torch.stack",
    "torch.cat",
    "torch.Tensor",
    "torch.FloatTensor",
    "torch.LongTensor",
    "torch.IntTensor",
    "torch.BoolTensor",
    "torch.DoubleTensor",
];

/// Zeroing gradients: since PyTorch 2.0 `Optimizer.zero_grad()` and `Module.zero_grad()` set
/// `.grad` to `None` by default (`set_to_none=True`), which saves the memset of every gradient
/// and lets the next backward write rather than accumulate: `torch.optim.Optimizer.zero_grad`
/// (<https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html>) and the
/// PyTorch Performance Tuning Guide, "Use parameter.grad = None instead of model.zero_grad() or
/// optimizer.zero_grad()" (<https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>).
pub const SET_TO_NONE_DEFAULT_SINCE: (u64, u64) = (2, 0);

/// Words (lowercase) that show a file trains in reduced precision already, or hands precision to
/// a flag: autocast, a grad scaler, `.half()`, a `bf16`/`fp16`/`mixed_precision` option. Any of
/// them means the float32 matmul and convolution advice does not apply as is.
pub const MIXED_PRECISION_MARKERS: &[&str] = &[
    "autocast",
    "gradscaler",
    "torch.amp",
    "cuda.amp",
    "use_amp",
    "amp=",
    "--amp",
    ".half()",
    "mixed_precision",
    "bfloat16",
    "float16",
    "fp16",
    "bf16",
];

/// Words (lowercase) that show a file decides the float32 matmul precision itself:
/// `torch.backends.cuda.matmul.allow_tf32 = ...`, `torch.set_float32_matmul_precision(...)`,
/// or a `tf32` option.
pub const TF32_MARKERS: &[&str] = &["allow_tf32", "float32_matmul_precision", "tf32"];

/// Frameworks that own the training precision (`Trainer(precision=...)`, `Accelerator(
/// mixed_precision=...)`, `TrainingArguments(tf32=..., bf16=...)`): the float32 advice is their
/// configuration's business.
pub const PRECISION_FRAMEWORKS: &[&str] = &[
    "accelerate",
    "lightning",
    "pytorch_lightning",
    "composer",
    "ignite",
    "deepspeed",
];

/// Layers and functions whose work is matrix multiplication (attention, feed-forward): a model
/// built from them spends most of its time in float32 matmuls unless TF32 or autocast is on.
/// `torch.nn` reference, "Transformer Layers": <https://pytorch.org/docs/stable/nn.html#transformer-layers>.
pub const TRANSFORMER_LAYERS: &[&str] = &[
    "torch.nn.Transformer",
    "torch.nn.TransformerEncoder",
    "torch.nn.TransformerEncoderLayer",
    "torch.nn.TransformerDecoder",
    "torch.nn.TransformerDecoderLayer",
    "torch.nn.MultiheadAttention",
    "torch.nn.functional.scaled_dot_product_attention",
];

/// TF32 for float32 matmuls on Ampere and newer GPUs: off by default since PyTorch 1.12
/// (`torch.backends.cuda.matmul.allow_tf32 = False`), while cuDNN convolutions keep TF32 on
/// (`torch.backends.cudnn.allow_tf32 = True`). Sources: CUDA semantics, "TensorFloat-32 (TF32)
/// on Ampere (and later) devices" (<https://pytorch.org/docs/stable/notes/cuda.html#tensorfloat-32-tf32-on-ampere-and-later-devices>),
/// `torch.set_float32_matmul_precision` (<https://pytorch.org/docs/stable/generated/torch.set_float32_matmul_precision.html>).
pub const MATMUL_TF32_OFF_SINCE: (u64, u64) = (1, 12);

/// torchvision datasets of small images held in memory (28x28 or 32x32 pixels: MNIST and its
/// variants, CIFAR, SVHN, USPS; sizes from the torchvision dataset pages,
/// <https://pytorch.org/vision/stable/datasets.html>): a batch is a few megabytes at most, so
/// pinning it or copying it asynchronously saves a negligible part of a step.
pub const SMALL_SAMPLE_DATASETS: &[&str] = &[
    "MNIST",
    "FashionMNIST",
    "KMNIST",
    "EMNIST",
    "QMNIST",
    "CIFAR10",
    "CIFAR100",
    "SVHN",
    "USPS",
];

/// A qualified torchvision dataset of small in-memory images.
pub fn small_sample_dataset(qualified: &str) -> bool {
    qualified.starts_with("torchvision.datasets.")
        && qualified
            .rsplit('.')
            .next()
            .is_some_and(|name| SMALL_SAMPLE_DATASETS.contains(&name))
}

/// `torch.utils.data` wrappers whose first argument is the dataset they draw from.
pub const DATASET_WRAPPERS: &[&str] = &[
    "torch.utils.data.Subset",
    "torch.utils.data.random_split",
    "torch.utils.data.dataset.Subset",
    "torch.utils.data.dataset.random_split",
];

/// Constructors that build a tensor from Python data (a list of numbers), on the CPU unless
/// given a `device`: `torch.tensor`, `torch.as_tensor` and the legacy typed constructors
/// (<https://pytorch.org/docs/stable/generated/torch.tensor.html>,
/// <https://pytorch.org/docs/stable/tensors.html#torch.Tensor>).
pub const TENSORS_FROM_DATA: &[&str] = &[
    "torch.tensor",
    "torch.as_tensor",
    "torch.Tensor",
    "torch.FloatTensor",
    "torch.LongTensor",
];

/// `torch.compile` first shipped in PyTorch 2.0 (March 2023):
/// <https://pytorch.org/get-started/pytorch-2.0/>.
pub const TORCH_COMPILE_SINCE: (u64, u64) = (2, 0);

/// Text that shows a file compiles (or scripts) a model, or offers to: `torch.compile(model)`,
/// `model.compile()` (`nn.Module.compile`, PyTorch 2.2), TorchScript, TorchDynamo, or an
/// option that turns one on (`--compile`, `compile=True`, `torch_compile` in the Hugging Face
/// `TrainingArguments`). Matched in lower case. A project that mentions any of them has made
/// its choice; the compile advice is for projects that never considered it.
pub const COMPILE_MARKERS: &[&str] = &[
    "torch.compile",
    ".compile(",
    "jit.script",
    "jit.trace",
    "_dynamo",
    "torch_compile",
    "compile_model",
    "compile=",
    "--compile",
    "args.compile",
    "cfg.compile",
    "config.compile",
    "inductor",
];

/// Model builders of the libraries whose models `torch.compile` is benchmarked on (PyTorch's
/// TorchBench, timm and Hugging Face suites: <https://pytorch.org/get-started/pytorch-2.0/>),
/// matched as qualified-name prefixes.
pub const COMPILABLE_MODEL_BUILDERS: &[&str] = &[
    "torchvision.models.",
    "timm.create_model",
    "segmentation_models_pytorch.",
    "transformers.",
];

/// Recurrent layers. Their gradients explode without clipping (TRN001), and
/// `torch.compile` does not capture cuDNN's fused RNN kernels and runs them
/// eagerly between graph pieces ("graph breaks"), so a recurrent model gains little from it
/// (torch.compile troubleshooting, "Graph breaks": <https://pytorch.org/docs/stable/torch.compiler_troubleshooting.html>).
pub const RECURRENT_LAYERS: &[&str] = &[
    "torch.nn.LSTM",
    "torch.nn.GRU",
    "torch.nn.RNN",
    "torch.nn.LSTMCell",
    "torch.nn.GRUCell",
    "torch.nn.RNNCell",
];
