"""A small U-Net with the architecture of ../shared/fixtures/onnx/unet_small.*.onnx
(reconstructed from the graph's initializer shapes and its Conv/ReLU/MaxPool/ConvTranspose/
Concat order; truth.json module names e1.0, e1.3, u2, d2.0, ..., out).

PyTorch's count (truth.json `params`): 117,395. By hand (double_conv(i, o) =
o*i*9 + 2*o + o*o*9 + 2*o):
  e1  double_conv(3, 16)                 432 + 32 + 2,304 + 32   =   2,800
  e2  double_conv(16, 32)              4,608 + 64 + 9,216 + 64   =  13,952
  e3  double_conv(32, 64)            18,432 + 128 + 36,864 + 128 =  55,552
  u2  ConvTranspose2d(64, 32, 2)       64*32*2*2 + 32            =   8,224
  d2  double_conv(64, 32)             18,432 + 64 + 9,216 + 64   =  27,776
  u1  ConvTranspose2d(32, 16, 2)       32*16*2*2 + 16            =   2,064
  d1  double_conv(32, 16)              4,608 + 32 + 2,304 + 32   =   6,976
  out Conv2d(16, 3, 1)                 3*16 + 3                  =      51
  total                                                            117,395
"""
import torch
from torch import nn


def double_conv(c_in, c_out):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    def __init__(self, in_channels=3, num_classes=3, base=16):
        super().__init__()
        self.e1 = double_conv(in_channels, base)
        self.e2 = double_conv(base, base * 2)
        self.e3 = double_conv(base * 2, base * 4)
        self.pool = nn.MaxPool2d(2)
        self.u2 = nn.ConvTranspose2d(base * 4, base * 2, 2, stride=2)
        self.d2 = double_conv(base * 4, base * 2)
        self.u1 = nn.ConvTranspose2d(base * 2, base, 2, stride=2)
        self.d1 = double_conv(base * 2, base)
        self.out = nn.Conv2d(base, num_classes, 1)

    def forward(self, x):
        e1 = self.e1(x)
        e2 = self.e2(self.pool(e1))
        e3 = self.e3(self.pool(e2))
        d2 = self.d2(torch.cat([self.u2(e3), e2], dim=1))
        d1 = self.d1(torch.cat([self.u1(d2), e1], dim=1))
        return self.out(d1)
