//! Number of classes of the classification datasets in `torchvision.datasets`.
//! Source: the torchvision datasets reference (<https://pytorch.org/vision/stable/datasets.html>)
//! and each dataset's page (CIFAR10/100: 10/100 classes; MNIST, FashionMNIST, KMNIST, SVHN,
//! STL10: 10; Food101: 101; Flowers102: 102; OxfordIIITPet: 37; StanfordCars: 196;
//! Caltech101: 101; DTD: 47; FGVCAircraft: 100 variants by default; EuroSAT: 10; GTSRB: 43;
//! Country211: 211; SUN397: 397; PCAM: 2; RenderedSST2: 2).

pub const CLASS_COUNTS: &[(&str, u32)] = &[
    ("CIFAR10", 10),
    ("CIFAR100", 100),
    ("MNIST", 10),
    ("FashionMNIST", 10),
    ("KMNIST", 10),
    ("SVHN", 10),
    ("STL10", 10),
    ("Food101", 101),
    ("Flowers102", 102),
    ("OxfordIIITPet", 37),
    ("StanfordCars", 196),
    ("Caltech101", 101),
    ("DTD", 47),
    ("FGVCAircraft", 100),
    ("EuroSAT", 10),
    ("GTSRB", 43),
    ("Country211", 211),
    ("SUN397", 397),
    ("PCAM", 2),
    ("RenderedSST2", 2),
];

/// Classes of `torchvision.datasets.<name>`.
pub fn class_count(qualified: &str) -> Option<u32> {
    let name = qualified.strip_prefix("torchvision.datasets.")?;
    let name = name.rsplit('.').next().unwrap_or(name);
    CLASS_COUNTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, count)| *count)
}

/// Per-channel means (on the 0-1 scale) that training code writes for the small
/// `torchvision.datasets` it normalizes: the values training scripts commonly use, computed over
/// each training split. Sources: MNIST 0.1307 (pytorch/examples `mnist/main.py`); CIFAR-10
/// (0.4914, 0.4822, 0.4465) (kuangliu/pytorch-cifar `main.py`); CIFAR-100 (0.5071, 0.4865,
/// 0.4409), Fashion-MNIST 0.2860 and SVHN (0.4377, 0.4438, 0.4728) as commonly quoted for their
/// training splits (not recomputed here). Only the mean is matched: stds are quoted in several
/// variants (CIFAR-10's 0.2023/0.1994/0.2010 and 0.2470/0.2435/0.2616).
pub struct DatasetStats {
    /// The `torchvision.datasets` class names the statistics belong to.
    pub datasets: &'static [&'static str],
    /// A human name for messages.
    pub name: &'static str,
    pub mean: &'static [f64],
}

pub const DATASET_STATS: &[DatasetStats] = &[
    DatasetStats {
        datasets: &["MNIST"],
        name: "MNIST",
        mean: &[0.1307],
    },
    DatasetStats {
        datasets: &["FashionMNIST"],
        name: "Fashion-MNIST",
        mean: &[0.2860],
    },
    DatasetStats {
        datasets: &["CIFAR10"],
        name: "CIFAR-10",
        mean: &[0.4914, 0.4822, 0.4465],
    },
    DatasetStats {
        datasets: &["CIFAR100"],
        name: "CIFAR-100",
        mean: &[0.5071, 0.4865, 0.4409],
    },
    DatasetStats {
        datasets: &["SVHN"],
        name: "SVHN",
        mean: &[0.4377, 0.4438, 0.4728],
    },
];

/// The dataset whose published mean these values are (each channel within 0.002).
pub fn stats_matching(mean: &[f64]) -> Option<&'static DatasetStats> {
    DATASET_STATS.iter().find(|s| {
        s.mean.len() == mean.len() && s.mean.iter().zip(mean).all(|(a, b)| (a - b).abs() <= 0.002)
    })
}

/// The statistics of a `torchvision.datasets` class, if the table has them.
pub fn stats_of(dataset: &str) -> Option<&'static DatasetStats> {
    DATASET_STATS.iter().find(|s| s.datasets.contains(&dataset))
}
