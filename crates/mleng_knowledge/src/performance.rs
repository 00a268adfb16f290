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
