"""Data pipeline for the flowers example."""
import torchvision.transforms as T
from torchvision.datasets import Flowers102

# ImageNet statistics: right for torchvision weights (see train.py for the timm backbone).
train_tf = T.Compose([
    T.RandomResizedCrop(224),
    T.RandomHorizontalFlip(),
    T.ToTensor(),
    T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
])

# CV003: Normalize before ToTensor.
eval_tf = T.Compose([
    T.Resize(256),
    T.CenterCrop(224),
    T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    T.ToTensor(),
])


def datasets(root: str):
    return (
        Flowers102(root, split="train", transform=train_tf, download=True),
        Flowers102(root, split="val", transform=eval_tf, download=True),
    )
