"""Models for the flowers example: a pretrained backbone with a small head, and a caption LSTM."""
import timm
import torch.nn as nn


class Head(nn.Module):
    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.fc1 = nn.Linear(in_features, 256)
        self.drop = nn.Dropout(0.3)
        self.bn = nn.BatchNorm1d(256)
        self.fc2 = nn.Linear(256, num_classes)

    def forward(self, x):
        x = self.fc1(x)
        x = self.drop(x)
        x = self.bn(x)  # ARC001: BatchNorm normalizes Dropout's output
        return self.fc2(nn.functional.relu(x))


class FlowerNet(nn.Module):
    def __init__(self, num_classes: int = 102):
        super().__init__()
        self.backbone = timm.create_model("vit_small_patch16_224", pretrained=True, num_classes=0)
        self.head = Head(self.backbone.num_features, num_classes)

    def forward(self, images):
        return self.head(self.backbone(images))


class CaptionDecoder(nn.Module):
    def __init__(self, vocab: int, hidden: int = 256):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.rnn = nn.LSTM(hidden, hidden, batch_first=True)
        self.proj = nn.Sequential(
            nn.Linear(hidden, hidden),
            nn.Dropout(0.2),
            nn.BatchNorm1d(hidden),  # ARC001 in a Sequential
            nn.Linear(hidden, vocab),
        )

    def forward(self, tokens):
        h, _ = self.rnn(self.embed(tokens))
        return self.proj(h)
