"""Speaker diarization with a pyannote.audio pipeline, loaded offline from the model cache.

The pipeline is a local folder (pyannote's documented offline layout): ``config.yaml`` whose
``$model/segmentation``, ``$model/embedding`` and ``$model/plda`` entries point at sub-folders of
the same folder. Audio is handed over in memory as the already decoded waveform: no second decode,
and pyannote's own file decoding (torchcodec + ffmpeg) is never needed.

torch and pyannote are imported inside the functions, so ``swbatch --help`` never pays for them.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelMissingError, UsageError
from .linking import LINK_SIMILARITY, WindowSpeakers, link_windows
from .speakers import SpeakerTurn

if TYPE_CHECKING:
    from collections.abc import Iterable

    import numpy as np

    from .audio import Window
    from .cache import CachePaths

DEFAULT_MODEL = "pyannote/speaker-diarization-community-1"
INSTALL_HINT = "pip install 'swbatch[diarization]'"
#: a window's agglomerative clustering keeps clusters of this many chunk embeddings as speakers
#: of their own; pipelines tuned for whole files fold smaller ones into the nearest large one
#: (3.1: 12), which in a 5-minute window with many voices folds people together for good, while
#: a voice split into pieces is joined again by linking (docs/diarization-emotion.md measures it)
WINDOW_MIN_CLUSTER_SIZE = 3


def _import_pyannote() -> tuple[Any, Any]:
    """(torch, pyannote Pipeline), with telemetry off unless the user asked for it.

    pyannote.audio 4 reads PYANNOTE_METRICS_ENABLED when it is imported and sends usage metrics
    unless it is "false"; a value the user exported wins.
    """
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    try:
        import torch
        from pyannote.audio import Pipeline
    except ImportError as exc:
        raise UsageError(f"--diarize needs the diarization extra: {INSTALL_HINT} ({exc})") from None
    except OSError as exc:  # e.g. a CUDA torchaudio next to a CPU-only torch: libc10_cuda.so
        raise UsageError(
            f"the diarization extra is installed but does not load ({exc}); "
            f"reinstall it with the tested pins: {INSTALL_HINT}"
        ) from None
    return torch, Pipeline


def torch_device(torch: Any, device: str) -> Any:
    """``auto`` -> CUDA when present, else CPU; asking for CUDA without one is a usage error."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UsageError(f"unknown device {device!r}; use cpu, cuda or auto") from None


class Diarizer:
    """A loaded pipeline; call it on a waveform to get speaker turns.

    One instance is shared by the batch's worker threads: calls are serialised with a lock,
    since a pyannote pipeline keeps per-call state and torch already uses every core per call.
    """

    def __init__(self, pipeline: Any, name: str, torch: Any) -> None:
        self.pipeline = pipeline
        self.name = name
        self._torch = torch
        self._lock = threading.Lock()

    def __call__(
        self,
        audio: np.ndarray,
        sample_rate: int,
        *,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> list[SpeakerTurn]:
        """Speaker turns of mono float32 ``audio``, in time order, labels like ``SPEAKER_00``.

        Overlapping speech gives overlapping turns (the RTTM view); ``assign_speakers`` copes.
        """
        annotation, _embeddings = self._run(
            audio,
            sample_rate,
            num_speakers=num_speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
        )
        return _turns(annotation, 0.0, {})

    def windowed(
        self,
        windows: Iterable[Window],
        sample_rate: int,
        *,
        num_speakers: int | None = None,
        max_speakers: int | None = None,
        link_similarity: float | None = None,
    ) -> list[SpeakerTurn]:
        """Speaker turns of a long file, one window at a time (memory bounded by a window).

        Each window is diarized alone, with at most ``num_speakers or max_speakers`` speakers
        and small clusters kept (:data:`WINDOW_MIN_CLUSTER_SIZE`); then all windows' speakers
        are clustered by their centroid embeddings into file-wide labels
        (:func:`swbatch.linking.link_windows`, cosine ``link_similarity``).
        A minimum number of speakers cannot be asked of every window, so it is not passed on.
        """
        limit = num_speakers or max_speakers
        pieces = list(self.window_speakers(windows, sample_rate, limit))
        threshold = LINK_SIMILARITY if link_similarity is None else link_similarity
        return link_windows(pieces, limit, threshold)

    def window_speakers(self, windows: Iterable[Window], sample_rate: int,
                        limit: int | None = None) -> Iterable[WindowSpeakers]:  # fmt: skip
        """Each window's turns (file time, the window's own labels) and speaker centroids."""
        for window in windows:
            annotation, embeddings = self._run(
                window.samples, sample_rate, WINDOW_MIN_CLUSTER_SIZE, max_speakers=limit
            )
            labels = annotation.labels()
            if not labels:
                continue
            if embeddings is None or len(embeddings) < len(labels):
                raise UsageError(
                    f"diarization model {self.name} gives no speaker embeddings, "
                    "which linking the windows of a long file needs"
                )
            yield WindowSpeakers(
                _turns(annotation, window.start, {}),
                list(labels),
                [embeddings[i] for i in range(len(labels))],
                [annotation.label_duration(label) for label in labels],
            )

    def _run(self, audio: np.ndarray, sample_rate: int, min_cluster_size: int | None = None,
             **speakers: int | None) -> tuple:  # fmt: skip
        """(pyannote annotation, speaker centroid embeddings or None) of one waveform; with
        ``min_cluster_size``, a lower one for this call where the pipeline's clustering has
        one (agglomerative; community-1's VBx has none and runs as it is)."""
        import numpy as np

        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        waveform = self._torch.from_numpy(samples).unsqueeze(0)
        clustering = getattr(self.pipeline, "clustering", None)
        tuned = getattr(clustering, "min_cluster_size", None) if min_cluster_size else None
        with self._lock, self._torch.inference_mode():
            if tuned is not None:
                clustering.min_cluster_size = min(tuned, min_cluster_size)
            try:
                output = self.pipeline(
                    {"waveform": waveform, "sample_rate": sample_rate}, **speakers
                )
            finally:
                if tuned is not None:
                    clustering.min_cluster_size = tuned
        # pyannote 4 returns DiarizeOutput; 3.x (and legacy=True) a bare Annotation.
        annotation = getattr(output, "speaker_diarization", output)
        return annotation, getattr(output, "speaker_embeddings", None)


def _turns(annotation: Any, offset: float, names: dict) -> list[SpeakerTurn]:
    """The annotation's turns in file time (``offset`` added), labels renamed by ``names``."""
    turns = [
        SpeakerTurn(round(seg.start + offset, 3), round(seg.end + offset, 3),
                    names.get(label, str(label)))
        for seg, _track, label in annotation.itertracks(yield_label=True)
    ]  # fmt: skip
    return sorted(turns, key=lambda t: (t.start, t.end, t.speaker))


def pipeline_folder(model: str, paths: CachePaths | None) -> Path:
    """The local pipeline folder of ``model`` from the cache (ModelMissingError if absent)."""
    from .models import resolve_model

    folder = Path(resolve_model(model, "diarization", paths).path)
    if not (folder / "config.yaml").is_file():
        raise ModelMissingError(
            f"diarization model {model}: {folder} has no config.yaml; "
            "bake or prefetch a model set that includes it"
        )
    return folder


SUB_MODELS = ("segmentation", "embedding", "plda")


def offline_config(name: str, folder: Path, paths: CachePaths) -> dict:
    """The pipeline's config.yaml with every sub-model turned into a local folder path.

    ``$model/sub`` (community-1's layout) becomes ``folder/sub``; a hub id (3.1 names
    ``pyannote/segmentation-3.0``) becomes that repo's snapshot in the cache's diarization folder.
    pyannote 4 loads a PLDA even for 3.1's clustering and by default fetches community-1's: it is
    taken from the cache too. So nothing here can reach for the network, whatever HF_HUB_OFFLINE
    says, and a missing part is one ModelMissingError naming it.
    """
    import yaml

    from .models import resolve_model

    config = yaml.safe_load((folder / "config.yaml").read_text()) or {}
    params = config.get("pipeline", {}).setdefault("params", {})
    for key in SUB_MODELS:
        ref = params.get(key)
        if not isinstance(ref, str):
            continue
        ref = ref.split("@", 1)[0]  # a pinned revision: the cache holds the one prefetch chose
        if ref.startswith("$model/"):
            part = folder / ref[len("$model/") :]
            if not part.is_dir():
                raise ModelMissingError(
                    f"diarization model {name}: its {key} part {part} is missing; "
                    "prefetch the model again"
                )
            params[key] = str(part)
        elif not Path(ref).exists() and ref.count("/") == 1:
            params[key] = str(resolve_model(ref, "diarization", paths).path)
    if "plda" not in params and config.get("pipeline", {}).get("name", "").endswith(
        "SpeakerDiarization"
    ):
        params["plda"] = str(resolve_model(DEFAULT_MODEL, "diarization", paths).path / "plda")
    return config


def load_diarizer(model: str | None, device: str, paths: CachePaths | None = None) -> Diarizer:
    """Load the pipeline once (per batch), offline, onto ``device``."""
    from .cache import CachePaths

    name = model or DEFAULT_MODEL
    paths = paths or CachePaths.from_env()
    torch, pipeline_cls = _import_pyannote()
    folder = pipeline_folder(name, paths)
    target = torch_device(torch, device)
    config = offline_config(name, folder, paths)
    try:
        pipeline = pipeline_cls.from_pretrained(config)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise ModelMissingError(
            f"diarization model {name} in {folder} does not load offline: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    if pipeline is None:
        raise ModelMissingError(f"diarization model {name} in {folder} does not load offline")
    pipeline.to(target)
    # pyannote's statistics pooling warns on every file whose chunks hold one frame of a speaker;
    # the result is fine and a batch log full of it hides the lines that matter.
    warnings.filterwarnings("ignore", message=r"std\(\): degrees of freedom", category=UserWarning)
    return Diarizer(pipeline, name, torch)
