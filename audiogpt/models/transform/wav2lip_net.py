"""The Wav2Lip generator (Prajwal et al., ACM MM 2020) in torch, with the published layer layout.

Imported only by :mod:`full_talking_head` inside ``load()`` (it imports torch at
module level). Module and parameter names follow the authors' ``models/wav2lip.py``
(``face_encoder_blocks``, ``audio_encoder``, ``face_decoder_blocks``,
``output_block``; each conv is ``conv_block.0`` conv + ``conv_block.1``
BatchNorm), so their ``wav2lip.pth`` / ``wav2lip_gan.pth`` state dicts load with
``strict=True`` once the ``module.`` prefix of their DataParallel training is
stripped. ``width`` scales every channel count (1.0 is the published network;
the tests build 1/8-width ones with random weights).

Input: a mel window ``(B, 1, 80, 16)`` (0.2 s) and a face pair ``(B, 6, 96, 96)``
(the target face with its lower half blacked out, then a reference face; BGR
0..1); output: the face ``(B, 3, 96, 96)`` with lips matching the audio.
"""

from __future__ import annotations

import torch
from torch import nn


class Conv2d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int | tuple[int, int], stride: int | tuple[int, int],
                 padding: int, residual: bool = False) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class Conv2dTranspose(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int, padding: int,
                 output_padding: int = 0) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding),
                                        nn.BatchNorm2d(cout))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


class Wav2Lip(nn.Module):
    def __init__(self, width: float = 1.0) -> None:
        super().__init__()

        def c(n: int) -> int:
            return max(4, round(n * width))

        def res(n: int) -> Conv2d:
            return Conv2d(c(n), c(n), 3, 1, 1, residual=True)

        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(Conv2d(6, c(16), 7, 1, 3)),  # 96
            nn.Sequential(Conv2d(c(16), c(32), 3, 2, 1), res(32), res(32)),  # 48
            nn.Sequential(Conv2d(c(32), c(64), 3, 2, 1), res(64), res(64), res(64)),  # 24
            nn.Sequential(Conv2d(c(64), c(128), 3, 2, 1), res(128), res(128)),  # 12
            nn.Sequential(Conv2d(c(128), c(256), 3, 2, 1), res(256), res(256)),  # 6
            nn.Sequential(Conv2d(c(256), c(512), 3, 2, 1), res(512)),  # 3
            nn.Sequential(Conv2d(c(512), c(512), 3, 1, 0), Conv2d(c(512), c(512), 1, 1, 0)),  # 1
        ])
        self.audio_encoder = nn.Sequential(
            Conv2d(1, c(32), 3, 1, 1), res(32), res(32),
            Conv2d(c(32), c(64), 3, (3, 1), 1), res(64), res(64),
            Conv2d(c(64), c(128), 3, 3, 1), res(128), res(128),
            Conv2d(c(128), c(256), 3, (3, 2), 1), res(256),
            Conv2d(c(256), c(512), 3, 1, 0), Conv2d(c(512), c(512), 1, 1, 0),
        )
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(Conv2d(c(512), c(512), 1, 1, 0)),
            nn.Sequential(Conv2dTranspose(c(512) + c(512), c(512), 3, 1, 0), res(512)),  # 3
            nn.Sequential(Conv2dTranspose(c(512) + c(512), c(512), 3, 2, 1, 1), res(512), res(512)),  # 6
            nn.Sequential(Conv2dTranspose(c(512) + c(256), c(384), 3, 2, 1, 1), res(384), res(384)),  # 12
            nn.Sequential(Conv2dTranspose(c(384) + c(128), c(256), 3, 2, 1, 1), res(256), res(256)),  # 24
            nn.Sequential(Conv2dTranspose(c(256) + c(64), c(128), 3, 2, 1, 1), res(128), res(128)),  # 48
            nn.Sequential(Conv2dTranspose(c(128) + c(32), c(64), 3, 2, 1, 1), res(64), res(64)),  # 96
        ])
        self.output_block = nn.Sequential(Conv2d(c(64) + c(16), c(32), 3, 1, 1),
                                          nn.Conv2d(c(32), 3, kernel_size=1, stride=1, padding=0), nn.Sigmoid())

    def forward(self, audio_sequences: torch.Tensor, face_sequences: torch.Tensor) -> torch.Tensor:
        x = face_sequences
        feats = []
        for block in self.face_encoder_blocks:
            x = block(x)
            feats.append(x)
        x = self.audio_encoder(audio_sequences)
        for block in self.face_decoder_blocks:
            x = block(x)
            x = torch.cat((x, feats.pop()), dim=1)
        return self.output_block(x)
