"""Emotion models load through load_emotion's real from_pretrained path, with every weight used.

The models are tiny and randomly initialised (no PyPI package ships emotion weights), saved in the
layout of the published checkpoints and placed in hub layout in a private cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from speech import have_espeak, speak

from swbatch.cache import CachePaths
from swbatch.errors import ModelMissingError, UsageError

CATEGORICAL = "superb/wav2vec2-base-superb-er"
DIMENSIONAL = "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"
LABELS = ("neu", "hap", "ang", "sad")


@pytest.fixture
def paths(cache_root: Path) -> CachePaths:
    return CachePaths.from_env({"SLOWER_WHISPER_CACHE_ROOT": str(cache_root)}).ensure()


@pytest.fixture(scope="session")
def speech_audio(tmp_path_factory) -> np.ndarray:
    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    from faster_whisper import decode_audio

    wav = speak(tmp_path_factory.mktemp("emo") / "s.wav", "I am really happy to see you today.")
    return decode_audio(str(wav))


SEGMENTS = [
    {"id": 0, "start": 0.0, "end": 1.8, "text": "I am really happy"},
    {"id": 1, "start": 1.8, "end": 2.3, "text": "to"},  # 0.5 s: too short to judge
    {"id": 2, "start": 1.0, "end": 2.5, "text": "see you today."},
]


def install(paths: CachePaths, repo: str, build) -> Path:
    import torch_models

    source = build(paths.root / "build" / repo.replace("/", "_"))
    return torch_models.place_in_hub_layout(paths.emotion_root, repo, source)


@pytest.mark.torch
def test_categorical_model_labels_each_segment(paths, speech_audio):
    pytest.importorskip("transformers")
    import torch_models
    from transformers import AutoModelForAudioClassification

    from swbatch.emotion import load_emotion

    snapshot = install(paths, CATEGORICAL, torch_models.save_categorical_model)
    _net, info = AutoModelForAudioClassification.from_pretrained(
        snapshot, local_files_only=True, output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"], info

    model = load_emotion(None, "cpu", paths)
    results = model(speech_audio, 16000, SEGMENTS)
    assert len(results) == len(SEGMENTS)
    assert results[1] == {"status": "too_short"}
    for result in (results[0], results[2]):
        assert set(result["scores"]) == set(LABELS)
        assert sum(result["scores"].values()) == pytest.approx(1.0, abs=1e-3)
        assert result["label"] == max(result["scores"], key=result["scores"].get)


@pytest.mark.torch
def test_dimensional_model_loads_every_weight(paths, speech_audio):
    pytest.importorskip("transformers")
    import torch
    import torch_models

    from swbatch.emotion import dimensional_model_class, load_emotion

    snapshot = install(paths, DIMENSIONAL, torch_models.save_dimensional_model)
    _net, info = dimensional_model_class().from_pretrained(
        snapshot, local_files_only=True, output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"], info

    model = load_emotion(None, "cpu", paths, dimensional=True)
    # the weights on disk are the weights in use (nothing re-initialised at random)
    saved = torch.load(snapshot / "pytorch_model.bin", weights_only=True)
    loaded = model.model.state_dict()
    assert torch.equal(loaded["classifier.out_proj.bias"], saved["classifier.out_proj.bias"])
    assert torch.equal(
        loaded["wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original1"],
        saved["wav2vec2.encoder.pos_conv_embed.conv.weight_v"],
    )
    results = model(speech_audio, 16000, SEGMENTS)
    assert results[1] == {"status": "too_short"}
    for result in (results[0], results[2]):
        assert set(result) == {"valence", "arousal", "dominance"}
        assert all(isinstance(v, float) and np.isfinite(v) for v in result.values())
    assert results[0] != results[2], "different audio, same output: the model is not listening"


@pytest.mark.torch
def test_checkpoint_without_the_regression_head_is_refused(paths):
    pytest.importorskip("transformers")
    import torch_models

    from swbatch.emotion import load_emotion

    install(paths, DIMENSIONAL, lambda d: torch_models.save_dimensional_model(d, with_head=False))
    with pytest.raises(UsageError, match=r"missing 4 \(classifier\.dense\.bias"):
        load_emotion(None, "cpu", paths, dimensional=True)


@pytest.mark.torch
def test_categorical_checkpoint_is_not_taken_for_a_dimensional_one(paths):
    pytest.importorskip("transformers")
    import torch_models

    from swbatch.emotion import load_emotion

    install(paths, "org/categorical", torch_models.save_categorical_model)
    with pytest.raises(UsageError, match="does not match its architecture"):
        load_emotion("org/categorical", "cpu", paths, dimensional=True)


@pytest.mark.torch
def test_missing_model_is_model_missing(paths):
    pytest.importorskip("transformers")
    from swbatch.emotion import load_emotion

    with pytest.raises(ModelMissingError, match="wav2vec2-base-superb-er"):
        load_emotion(None, "cpu", paths)


def test_missing_extra_is_one_usage_line(monkeypatch, paths):
    from swbatch.emotion import load_emotion

    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed
    with pytest.raises(UsageError) as err:
        load_emotion(None, "cpu", paths)
    assert "pip install 'swbatch[emotion]'" in str(err.value)
    assert "\n" not in str(err.value)
