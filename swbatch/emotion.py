"""Speech emotion per transcript segment with a wav2vec2 model, loaded offline from the cache.

Two kinds of model:
- categorical: any transformers audio-classification checkpoint (e.g.
  ``superb/wav2vec2-base-superb-er``): a label and a probability per label;
- dimensional: audeering's valence/arousal/dominance model, whose regression head is not a
  transformers class. It is rebuilt here under the checkpoint's own weight names, and loading
  fails loudly if any weight is left out or left over (transformers would only warn and run
  the head on random weights). Its licence is CC BY-NC-SA 4.0: non-commercial use only.

A segment shorter than ``MIN_SECONDS`` (1.0 s) is marked ``{"status": "too_short"}`` instead of
guessed: the models were trained on utterances of a few seconds, and below a second their output
says more about the noise than about the speaker. Segments longer than ``MAX_SECONDS`` are judged
on their first ``MAX_SECONDS`` to bound memory.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelMissingError, UsageError

if TYPE_CHECKING:
    import numpy as np

    from .cache import CachePaths

DEFAULT_CATEGORICAL = "superb/wav2vec2-base-superb-er"
DEFAULT_DIMENSIONAL = "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"
DIMENSIONS = ("arousal", "dominance", "valence")  # the audeering head's output order
MIN_SECONDS = 1.0
MAX_SECONDS = 30.0
INSTALL_HINT = "pip install 'swbatch[emotion]'"
#: Weights that only training uses; a checkpoint may leave them out without harm.
TRAINING_ONLY_WEIGHTS = ("masked_spec_embed",)


def _import_stack() -> tuple[Any, Any]:
    """(torch, transformers), or one line saying how to install them."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise UsageError(f"--emotion needs the emotion extra: {INSTALL_HINT} ({exc})") from None
    except OSError as exc:
        raise UsageError(
            f"the emotion extra is installed but does not load ({exc}); "
            f"reinstall it with the tested pins: {INSTALL_HINT}"
        ) from None
    return torch, transformers


@functools.cache
def dimensional_model_class() -> type:
    """The audeering model's architecture: wav2vec2, mean pooling, a two-layer regression head.

    Attribute names (``wav2vec2``, ``classifier.dense``, ``classifier.out_proj``) are the weight
    names in the published checkpoint; change them and the head would load as random weights.
    """
    import torch
    from torch import nn
    from transformers import Wav2Vec2Model, Wav2Vec2PreTrainedModel

    class RegressionHead(nn.Module):
        def __init__(self, config: Any) -> None:
            super().__init__()
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)
            self.dropout = nn.Dropout(getattr(config, "final_dropout", 0.0))
            self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            x = torch.tanh(self.dense(self.dropout(features)))
            return self.out_proj(self.dropout(x))

    class Wav2Vec2ForDimensionalEmotion(Wav2Vec2PreTrainedModel):
        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.wav2vec2 = Wav2Vec2Model(config)
            self.classifier = RegressionHead(config)
            self.post_init()

        def forward(self, input_values: torch.Tensor) -> torch.Tensor:
            hidden = self.wav2vec2(input_values)[0]
            return self.classifier(hidden.mean(dim=1))

    return Wav2Vec2ForDimensionalEmotion


def check_loading_info(name: str, info: dict) -> None:
    """Refuse a checkpoint that does not fill the model exactly (no silent random weights)."""
    missing = [k for k in info.get("missing_keys", []) if not k.endswith(TRAINING_ONLY_WEIGHTS)]
    unexpected = list(info.get("unexpected_keys", []))
    mismatched = [
        str(m[0]) if isinstance(m, tuple) else str(m) for m in info.get("mismatched_keys", [])
    ]
    if missing or unexpected or mismatched:
        parts = [
            f"{what} {len(keys)} ({', '.join(sorted(keys)[:3])}{', ...' if len(keys) > 3 else ''})"
            for what, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("mismatched", mismatched),
            )
            if keys
        ]
        raise UsageError(
            f"emotion model {name} does not match its architecture, weights "
            + "; ".join(parts)
            + ": is it the right kind (categorical vs --emotion-dimensional)?"
        )


class EmotionModel:
    """A loaded model and its feature extractor; call it with the audio and the segments."""

    def __init__(self, name: str, model: Any, extractor: Any, device: Any, dimensional: bool):
        self.name = name
        self.model = model
        self.extractor = extractor
        self.device = device
        self.dimensional = dimensional
        self.labels = _labels(model.config, dimensional)
        self._lock = threading.Lock()

    def __call__(self, audio: np.ndarray, sample_rate: int, segments: list[dict]) -> list[dict]:
        """One result per segment, in order, from the whole file's samples in memory.

        Categorical: ``{"label", "scores": {label: probability}}``; dimensional:
        ``{"valence", "arousal", "dominance"}`` (about 0..1); a segment under ``MIN_SECONDS``:
        ``{"status": "too_short"}``.
        """
        return self.judge_slices(
            (audio[slice(*_sample_span(seg, sample_rate))] for seg in segments), sample_rate
        )

    def judge_slices(self, slices: Iterable[np.ndarray], sample_rate: int) -> list[dict]:
        """One result per slice (the samples of one segment, as :func:`judged_spans` says which),
        so a long file never has to be in memory at once."""
        expected = getattr(self.extractor, "sampling_rate", sample_rate)
        if sample_rate != expected:
            raise UsageError(
                f"emotion model {self.name} needs {expected} Hz audio, got {sample_rate}"
            )
        with self._lock:
            return [self._judge(chunk, sample_rate) for chunk in slices]

    def _judge(self, chunk: np.ndarray, sample_rate: int) -> dict:
        import torch

        if len(chunk) < MIN_SECONDS * sample_rate:
            return {"status": "too_short"}
        inputs = self.extractor(chunk, sampling_rate=sample_rate, return_tensors="pt")
        with torch.inference_mode():
            output = self.model(inputs["input_values"].to(self.device))
        if self.dimensional:
            values = output[0].float().cpu().tolist()
            return {dim: round(values[i], 4) for i, dim in enumerate(self.labels)}
        probs = torch.softmax(output.logits[0].float(), dim=-1).cpu().tolist()
        scores = {label: round(p, 4) for label, p in zip(self.labels, probs, strict=True)}
        return {"label": max(scores, key=scores.__getitem__), "scores": scores}


def judged_spans(segments: list[dict]) -> list[tuple[float, float]]:
    """The part of each segment that is judged, in seconds: at most its first ``MAX_SECONDS``."""
    return [(seg["start"], min(seg["end"], seg["start"] + MAX_SECONDS)) for seg in segments]


def _sample_span(segment: dict, sample_rate: int) -> tuple[int, int]:
    (start, end) = judged_spans([segment])[0]
    first = max(0, round(start * sample_rate))
    return first, max(first, round(end * sample_rate))


def _labels(config: Any, dimensional: bool) -> list[str]:
    """Output names in head order, from the checkpoint's config."""
    names = [str(config.id2label[i]) for i in range(config.num_labels)]
    if not dimensional:
        return names
    if config.num_labels != len(DIMENSIONS):
        raise UsageError(f"a dimensional emotion model has 3 outputs, this one {config.num_labels}")
    return names if {n.lower() for n in names} == set(DIMENSIONS) else list(DIMENSIONS)


def load_emotion(
    model: str | None,
    device: str,
    paths: CachePaths | None = None,
    dimensional: bool = False,
) -> EmotionModel:
    """Load a categorical (default) or dimensional emotion model offline, once per batch."""
    from .cache import CachePaths
    from .diarization import torch_device
    from .models import resolve_model

    name = model or (DEFAULT_DIMENSIONAL if dimensional else DEFAULT_CATEGORICAL)
    torch, transformers = _import_stack()
    transformers.utils.logging.disable_progress_bar()  # no bars in batch logs
    folder = Path(resolve_model(name, "emotion", paths or CachePaths.from_env()).path)
    target = torch_device(torch, device)
    cls = dimensional_model_class() if dimensional else transformers.AutoModelForAudioClassification
    try:
        extractor = transformers.AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
        net, info = cls.from_pretrained(folder, local_files_only=True, output_loading_info=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelMissingError(
            f"emotion model {name} in {folder} does not load offline: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    check_loading_info(name, info)
    return EmotionModel(name, net.to(target).eval(), extractor, target, dimensional)
