"""SmallCNN, the architecture of ../shared/fixtures/onnx/smallcnn_ok.*.onnx and
ckpt/smallcnn_healthy.safetensors (reconstructed from the state_dict's tensor shapes:
features.0.weight [32, 1, 3, 3] with no bias, features.1 BatchNorm2d(32), features.3.weight
[64, 32, 3, 3], features.4 BatchNorm2d(64), head.0 [128, 1024], head.1 BatchNorm1d(128),
head.4 [10, 128]).

PyTorch's count (truth.json `params`): 151,658. By hand:
  features.0  Conv2d(1, 32, 3, bias=False)    32*1*3*3            =     288
  features.1  BatchNorm2d(32)                 2*32                =      64
  features.3  Conv2d(32, 64, 3, bias=False)   64*32*3*3           =  18,432
  features.4  BatchNorm2d(64)                 2*64                =     128
  head.0      Linear(1024, 128)               1024*128 + 128      = 131,200
  head.1      BatchNorm1d(128)                2*128               =     256
  head.4      Linear(128, 10)                 128*10 + 10         =   1,290
  total                                                             151,658
head.0 holds 86.5% of the parameters: the Linear after the flatten is the bottleneck.
"""
import torch
import torch.nn as nn


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Linear(64 * 4 * 4, 128),
            nn.BatchNorm1d(128),
            nn.ReLU(inplace=True),
            nn.Dropout(0.3),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        return self.head(torch.flatten(x, 1))
