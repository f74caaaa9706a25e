"""The real-weight pipeline's clustering settings and the linking threshold, swept offline.

Diarizing is slow and clustering is not: each recording (whole file, and swbatch's windows) is
segmented and embedded once with the real-weight pipeline (segmentation-3.0 + CAM++), and the
per-chunk segmentations and embeddings are kept in a cache file. Every clustering setting then
re-runs pyannote's own clustering and reconstruction on the cache (``get_segmentations`` and
``get_embeddings`` answered from it), and every linking threshold re-links the windows with
``swbatch.linking.link_windows``; each is scored with benchmarks/diarization.py's DER and speaker
count. Also prints how CAM++ scores the voices: the cosine similarity of chunk embeddings of the
same reader and of different readers (chunks with one reader for 90% or more of their speech).

    python benchmarks/diarization_sweep.py --recording long --step 0.2   # about 30 CPU-minutes
    python benchmarks/diarization_sweep.py --recording sample            # the folder's own step

Writes benchmarks/results/diarization-sweep-RECORDING.{json,md} (``-stepSTEP`` added for
another step than the default).
"""

from __future__ import annotations

import argparse
import itertools
import os
import pickle
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

import diarization as bench  # noqa: E402
from results_io import machine, write_results  # noqa: E402

from swbatch.linking import WindowSpeakers, link_windows  # noqa: E402
from swbatch.speakers import SpeakerTurn  # noqa: E402

GRID = {"centroid": (0.7, 0.8, 0.9), "average": (0.4, 0.5, 0.6)}
SIZES = (3, 12, 20)
LINKS = (0.4, 0.45, 0.5, 0.55, 0.6)


def embed(pipeline, samples, start: float) -> dict:
    """One waveform through the pipeline, keeping its segmentations and chunk embeddings."""
    import torch

    kept: dict = {}

    def hook(name, artefact, file=None, **progress):
        if artefact is not None and not progress and name in ("segmentation", "embeddings"):
            kept[name] = artefact

    waveform = torch.from_numpy(samples.astype("float32")).unsqueeze(0)
    with torch.inference_mode():
        pipeline({"waveform": waveform, "sample_rate": 16000}, hook=hook)
    window = kept["segmentation"].sliding_window
    return {
        "start": start,
        "segmentation": kept["segmentation"].data,
        "chunks": (window.start, window.duration, window.step),
        "embeddings": kept["embeddings"],
    }


def build_cache(path: Path, recording: str, step: float | None, window_seconds: float) -> dict:
    """Segmentations and embeddings of the whole file and of each window, computed once."""
    if path.is_file():
        return pickle.loads(path.read_bytes())
    from faster_whisper import decode_audio

    from swbatch import audio
    from swbatch.diarization import load_diarizer

    if recording == "sample":
        wav, reference = bench.sample_recording()
    else:
        wav, reference, _info = bench.long_recording(20.0)
    pipeline = load_diarizer(str(bench.pipeline_folder(step)), "cpu").pipeline
    cache = {
        "reference": [(t.start, t.end, t.speaker) for t in reference],
        "whole": embed(pipeline, decode_audio(str(wav)), 0.0),
        "windows": [
            embed(pipeline, w.samples, w.start) for w in audio.windows(wav, window_seconds)
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(cache))
    return cache


def diarize_cached(pipeline, piece: dict, clustering: dict):
    """pyannote's clustering and reconstruction on one cached piece, with ``clustering``."""
    import torch
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    start, duration, step = piece["chunks"]
    chunks = SlidingWindow(start=start, duration=duration, step=step)
    segmentation = SlidingWindowFeature(piece["segmentation"], chunks)
    pipeline.get_segmentations = lambda file, hook=None: segmentation
    pipeline.get_embeddings = lambda *args, **kwargs: piece["embeddings"]
    pipeline.instantiate({"clustering": clustering, "segmentation": {"min_duration_off": 0.0}})
    return pipeline({"waveform": torch.zeros(1, 16000), "sample_rate": 16000})


def window_speakers(pipeline, cache: dict, clustering: dict) -> list[WindowSpeakers]:
    """Each cached window diarized with ``clustering`` as swbatch diarizes a window (the minimum
    cluster size lowered to ``WINDOW_MIN_CLUSTER_SIZE``), as the windowed path hands it to
    linking."""
    from swbatch.diarization import WINDOW_MIN_CLUSTER_SIZE, _turns

    size = min(clustering["min_cluster_size"], WINDOW_MIN_CLUSTER_SIZE)
    clustering = {**clustering, "min_cluster_size": size}
    pieces = []
    for piece in cache["windows"]:
        output = diarize_cached(pipeline, piece, clustering)
        annotation, centroids = output.speaker_diarization, output.speaker_embeddings
        labels = annotation.labels()
        if labels:
            pieces.append(
                WindowSpeakers(
                    _turns(annotation, piece["start"], {}),
                    list(labels),
                    [centroids[i] for i in range(len(labels))],
                    [annotation.label_duration(x) for x in labels],
                )
            )
    return pieces


def sweep(pipeline, cache: dict) -> list[dict]:
    """DER and speakers found, whole file and windowed (every linking threshold), per setting."""
    from swbatch.diarization import _turns

    reference = [SpeakerTurn(*t) for t in cache["reference"]]

    def score(turns):
        found = bench.scores(reference, turns, [])
        return [found["der"], found["der_collar"], found["speakers"]]

    rows = []
    settings = [(m, t) for m, ts in GRID.items() for t in ts]
    for (method, threshold), size in itertools.product(settings, SIZES):
        clustering = {"method": method, "threshold": threshold, "min_cluster_size": size}
        whole = diarize_cached(pipeline, cache["whole"], clustering).speaker_diarization
        pieces = window_speakers(pipeline, cache, clustering)
        rows.append(
            {
                "clustering": clustering,
                "whole": score(_turns(whole, 0.0, {})),
                "window_speakers": [len(p.labels) for p in pieces],
                "linked": {str(x): score(link_windows(pieces, None, x)) for x in LINKS},
            }
        )
        print(rows[-1], flush=True)
    return rows


def similarities(cache: dict) -> dict:
    """Percentiles of the cosine similarity of clean chunk embeddings, same vs different reader."""
    import numpy as np

    whole, reference = cache["whole"], [SpeakerTurn(*t) for t in cache["reference"]]
    segmentation, embeddings = whole["segmentation"], whole["embeddings"]
    start, duration, step = whole["chunks"]
    chunks, frames, local = segmentation.shape
    alone = segmentation.sum(axis=2) == 1
    vectors, readers = [], []
    for c, k in itertools.product(range(chunks), range(local)):
        active = np.where(segmentation[c, :, k] * alone[c])[0]
        if len(active) < 0.2 * frames or np.isnan(embeddings[c, k]).any():
            continue  # what pyannote's filter_embeddings leaves out of the clustering
        times = start + c * step + (active + 0.5) * duration / frames
        names = [t.speaker for x in times for t in reference if t.start <= x < t.end]
        top = max(set(names), key=names.count) if names else None
        if top is not None and names.count(top) >= 0.9 * len(active):
            vectors.append(embeddings[c, k] / np.linalg.norm(embeddings[c, k]))
            readers.append(top)
    vectors, readers = np.array(vectors), np.array(readers)
    upper = np.triu_indices(len(vectors), 1)
    cosine = (vectors @ vectors.T)[upper]
    same = readers[upper[0]] == readers[upper[1]]
    points = (1, 5, 25, 50, 75, 95, 99)
    return {
        "chunks": len(vectors),
        "percentiles": list(points),
        "same": [round(float(v), 2) for v in np.percentile(cosine[same], points)],
        "different": [round(float(v), 2) for v in np.percentile(cosine[~same], points)],
    }


def centroid_cosines(pipeline, cache: dict, clustering: dict) -> dict:
    """Cosine of window-speaker centroids of different windows, same reader vs different, for
    window speakers that hold one reader 80% of their time or more (what linking compares)."""
    import numpy as np

    reference, pure = [SpeakerTurn(*t) for t in cache["reference"]], []
    for w, piece in enumerate(window_speakers(pipeline, cache, clustering)):
        for label, centroid in zip(piece.labels, piece.embeddings, strict=True):
            heard: dict[str, float] = {}
            for turn in (t for t in piece.turns if t.speaker == label):
                for r in reference:
                    heard[r.speaker] = heard.get(r.speaker, 0.0) + max(
                        0.0, min(turn.end, r.end) - max(turn.start, r.start)
                    )
            top = max(heard, key=heard.get, default=None)
            total = sum(t.end - t.start for t in piece.turns if t.speaker == label)
            norm = float(np.linalg.norm(centroid))
            if top is not None and norm > 0 and heard[top] >= 0.8 * total:
                pure.append((w, top, np.asarray(centroid) / norm))
    pairs = {"same": [], "different": []}
    for (w1, r1, c1), (w2, r2, c2) in itertools.combinations(pure, 2):
        if w1 != w2:
            pairs["same" if r1 == r2 else "different"].append(float(c1 @ c2))
    return {
        kind: {
            "pairs": len(v),
            "min": round(min(v), 2),
            "p95": round(float(np.percentile(v, 95)), 2),
            "max": round(max(v), 2),
        }
        if v
        else {"pairs": 0}
        for kind, v in pairs.items()
    }


def table(rows: list[dict], cosine: dict, args) -> str:
    lines = [
        f"# Clustering sweep on cached CAM++ embeddings: {args.recording}, step {args.step}",
        "",
        f"Machine: {machine()}. DER without collar; speakers found in brackets. Min size: the"
        " whole file's; windows use the smaller of it and swbatch's WINDOW_MIN_CLUSTER_SIZE.",
        "",
        f"Cosine of clean chunk embeddings ({cosine['chunks']} chunks), percentiles "
        f"{cosine['percentiles']}: same reader {cosine['same']}, different "
        f"{cosine['different']}.",
        "",
        "Cosine of window-speaker centroids of different windows (the folder's setting; window "
        f"speakers 80% one reader): {cosine['window_centroids']}.",
        "",
        "| method | threshold | min size | whole | per window | "
        + " | ".join(f"linked {x}" for x in LINKS)
        + " |",
        "|---|---|---|---|---|" + "---|" * len(LINKS),
    ]
    for r in rows:
        c = r["clustering"]
        linked = " | ".join(f"{v[0]:.3f} ({v[2]})" for v in r["linked"].values())
        lines.append(
            f"| {c['method']} | {c['threshold']} | {c['min_cluster_size']} | "
            f"{r['whole'][0]:.3f} ({r['whole'][2]}) | {r['window_speakers']} | {linked} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recording", choices=("sample", "long"), default="long")
    parser.add_argument("--step", type=float, default=None, help="segmentation step (long: 0.2)")
    parser.add_argument("--cache", help="cache file (default: under .work/bench-diarization)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    if args.recording == "long" and args.step is None:
        args.step = 0.2
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    seconds = 10.0 if args.recording == "sample" else 300.0
    cache_path = Path(args.cache or bench.WORK / f"cache-{args.recording}-{args.step}.pkl")
    cache = build_cache(cache_path, args.recording, args.step, seconds)
    from swbatch.diarization import load_diarizer

    pipeline = load_diarizer(str(bench.pipeline_folder(args.step)), "cpu").pipeline
    rows, cosine = sweep(pipeline, cache), similarities(cache)
    import yaml

    folder = yaml.safe_load((bench.pipeline_folder(args.step) / "config.yaml").read_text())
    cosine["window_centroids"] = centroid_cosines(pipeline, cache, folder["params"]["clustering"])
    result = {"recording": args.recording, "step": args.step, "similarity": cosine, "rows": rows}
    name = f"diarization-sweep-{args.recording}"
    if args.step not in (None, 0.2):
        name += f"-step{args.step}"
    write_results(args.out, name, result, table(rows, cosine, args))


if __name__ == "__main__":
    main()
