"""Hand-computed counts for the recurrent, attention and normalization formulas.

TextModel (hidden has no default, so `proj` is unknown):
  embed  Embedding(1000, 64)                              1000*64                      =  64,000
  rnn    LSTM(64, 128, num_layers=2, bidirectional=True)
           layer 0, per direction: 4*128*(64+128) + 2*4*128  = 98,304 + 1,024       =  99,328
           layer 1, per direction: 4*128*(256+128) + 2*4*128 = 196,608 + 1,024      = 197,632
           2 directions: 2*(99,328 + 197,632)                                         = 593,920
  attn   MultiheadAttention(256, 8): 3*256*256 + 3*256 + 256*256 + 256                = 263,168
  norm   LayerNorm(256): 2*256                                                        =     512
  proj   Linear(256, hidden)                                                          = unknown
  gn     GroupNorm(8, 32): 2*32 (not used in forward)                                 =      64
  known total                                                                           921,664

tagger (module-level Sequential):
  0 Linear(32, 64) = 32*64 + 64 = 2,112; 1 GELU = 0; 2 Linear(64, 5) = 64*5 + 5 = 325; total 2,437
"""
import torch.nn as nn


class TextModel(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.embed = nn.Embedding(1000, 64)
        self.rnn = nn.LSTM(64, 128, num_layers=2, batch_first=True, bidirectional=True)
        self.attn = nn.MultiheadAttention(256, 8, batch_first=True)
        self.norm = nn.LayerNorm(256)
        self.proj = nn.Linear(256, hidden)
        self.gn = nn.GroupNorm(8, 32)

    def forward(self, tokens):
        h, _ = self.rnn(self.embed(tokens))
        a, _ = self.attn(h, h, h)
        return self.proj(self.norm(a + h))


tagger = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 5))
