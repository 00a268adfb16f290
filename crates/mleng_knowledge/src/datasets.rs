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
