"""Words given to the right speaker on the long recording, from the sweep's cached diarization.

benchmarks/diarization.py diarizes and transcribes in one run; on the long recording at step 0.2
it had not finished after 20 minutes on a shared 2-core machine (load about 16). This script
takes the segmentations and CAM++ embeddings that benchmarks/diarization_sweep.py cached (run that
first), re-clusters them with the pipeline folder's own setting, transcribes the recording with
tiny.en (word timestamps) and scores whole file and windows (every linking threshold) the way
benchmarks/diarization.py does: DER, DER with a 0.25-s collar, speakers found, share of words
with the right speaker.

    python benchmarks/diarization_words.py   # writes benchmarks/results/diarization-words-long.*
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import diarization as bench
import diarization_sweep as sweep
import yaml
from results_io import machine, write_results

from swbatch.diarization import _turns, load_diarizer
from swbatch.linking import link_windows
from swbatch.speakers import SpeakerTurn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", type=float, default=0.2)
    parser.add_argument("--out", default=str(sweep.REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    cache_path = bench.WORK / f"cache-long-{args.step}.pkl"
    cache = sweep.build_cache(Path(cache_path), "long", args.step, 300.0)
    folder = bench.pipeline_folder(args.step)
    setting = yaml.safe_load((folder / "config.yaml").read_text())["params"]["clustering"]
    pipeline = load_diarizer(str(folder), "cpu").pipeline
    reference = [SpeakerTurn(*t) for t in cache["reference"]]
    wav, _reference, _info = bench.long_recording(20.0)
    segments, _seconds = bench.transcribe(wav)
    whole = sweep.diarize_cached(pipeline, cache["whole"], setting).speaker_diarization
    pieces = sweep.window_speakers(pipeline, cache, setting)
    rows = {"whole file": bench.scores(reference, _turns(whole, 0.0, {}), segments)}
    for threshold in sweep.LINKS:
        turns = link_windows(pieces, None, threshold)
        rows[f"{len(pieces)} windows, linked at {threshold}"] = bench.scores(
            reference, turns, segments
        )
    lines = [
        f"# Long recording, step {args.step}, clustering {setting}",
        "",
        f"Machine: {machine()}.",
        "",
        "| path | DER | DER (collar) | speakers (ref) | words right |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['der']:.3f} | {r['der_collar']:.3f} | "
            f"{r['speakers']} ({r['reference_speakers']}) | {r['word_speaker_accuracy']:.3f} |"
        )
    result = {"step": args.step, "clustering": setting, "rows": rows}
    write_results(args.out, "diarization-words-long", result, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
