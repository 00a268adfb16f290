"""Fine-tune a ViT on Flowers-102 with mixed precision.

Run: python train.py --epochs 10
"""
import argparse

import timm
import torch
import torchvision.transforms as T
from torch.utils.data import DataLoader

from data import datasets
from model import FlowerNet

# The backbone: timm's default weights for this ViT expect mean=std=0.5, not ImageNet's.
BACKBONE = timm.create_model("vit_small_patch16_224", pretrained=True, num_classes=0)

# CV001: ImageNet statistics for the ViT above.
finetune_tf = T.Compose([
    T.RandomResizedCrop(224),
    T.ToTensor(),
    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
])

# CV002: statistics on the 0-255 scale after ToTensor.
predict_tf = T.Compose([T.Resize(224), T.ToTensor(), T.Normalize((127.5, 127.5, 127.5), (127.5, 127.5, 127.5))])


def train_one_epoch(model, loader, optimizer, scaler, device):
    model.train()
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        scaler.scale(loss).backward()
        # TRN002: clipping the *scaled* gradients, no scaler.unscale_(optimizer) first.
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        scaler.step(optimizer)
        scaler.update()


def finetune_decoder(decoder, loader, device):
    opt = torch.optim.Adam(decoder.parameters(), lr=1e-3)
    for tokens, targets in loader:
        logits = decoder(tokens.to(device))
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten().to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), 1.0)  # TRN003: after the step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data", default="./data")
    args = parser.parse_args()
    device = "cuda"
    model = FlowerNet().to(device)
    train_set, _ = datasets(args.data)
    loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.05)
    scaler = torch.amp.GradScaler("cuda")
    for _ in range(args.epochs):
        train_one_epoch(model, loader, optimizer, scaler, device)



def pretrain_decoder(decoder, loader):
    # TRN001: the caption LSTM (model.py) trained without gradient clipping.
    opt = torch.optim.Adam(decoder.parameters(), lr=1e-3)
    for tokens, targets in loader:
        loss = torch.nn.functional.cross_entropy(decoder(tokens).flatten(0, 1), targets.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()


if __name__ == "__main__":
    main()
