"""Packing, sequential, batched and cross-file decoding, against a hand-tuned faster-whisper engine.

Corpora with reference text (see short_corpora.py; ``--corpora``): espeak-ng clips (``short``),
real utterances of 1.5 to 8 s mixed with espeak-ng sentences (``real``), clips of exactly 2.5 s
(``tiny``), one long recording (``long``). On each, in one run and interleaved (so machine noise
hits all alike), these contenders transcribe every file, each in its own process (model load
included); ``--contenders`` picks some:

- tuned: faster-whisper as tuned by hand for the machine (int8 on CPU, one thread per worker, one
  worker per core, the model loaded once, a thread pool over the files: throughput.py's TUNED);
- swbatch: its defaults (on the CPU: batch size 1, short files packed into shared windows);
- no-pack: swbatch ``--no-pack``: each file decoded alone (the per-file path);
- batched: ``--batch-size N --no-pack`` with each file's chunks batched alone (Python API:
  ``RunOptions(cross_file=False)``), i.e. faster-whisper's own batching;
- cross-file: ``--batch-size N --no-pack``, chunks of many files sharing batches;
- cross-file-packed: ``--batch-size N``: packed windows sharing batches.

Reported: wall time, real-time factor (audio s per wall s), files per second, WER against the
reference (Whisper's English normaliser, tests/real_speech.py) over the corpus and over its real
utterances, files that were packed, peak RSS, and on CUDA peak GPU memory (nvidia-smi).
``--large-v3-random`` times a model of large-v3's dimensions built here from a transformers
``WhisperConfig`` with random weights and converted with ctranslate2's converter: its words are
meaningless (no WER), its timing stands for the compute of large-v3.

    python benchmarks/batching.py --clips 150 --repeats 2      # CPU, tiny.en
    python benchmarks/batching.py --corpora real,tiny --clips 300 --contenders tuned,swbatch,no-pack
    python benchmarks/batching.py --device cuda --clips 300 --batch-size 16
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import short_corpora  # noqa: E402
from real_speech import corpus_wer  # noqa: E402
from results_io import machine, write_results  # noqa: E402
from throughput import TUNED, _demo_model_path, audio_seconds, run_isolated  # noqa: E402

#: one swbatch contender: discover ROOT, run the batch with RunOptions(**OPTIONS)
SWBATCH = """
import json, sys
from pathlib import Path
from swbatch.cache import CachePaths
from swbatch.jobs import JobSettings, discover
from swbatch.pipeline import RunOptions, run_batch
root, model, options = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
batch = discover(root, JobSettings(model=model, formats=("json",)))
summary = run_batch(batch, RunOptions(overwrite=True, quiet=True, **options), CachePaths.from_env())
sys.exit(1 if summary.failed else 0)
"""


#: each swbatch contender's RunOptions (batch size N filled in); "tuned" is faster-whisper's loop
CONTENDERS = {
    "tuned": None,
    "swbatch": {},
    "no-pack": {"pack": False},
    "batched": {"batch_size": "N", "cross_file": False, "pack": False},
    "cross-file": {"batch_size": "N", "pack": False},
    "cross-file-packed": {"batch_size": "N"},
}


def make_corpora(folder: Path, args) -> dict[str, dict[str, str]]:
    """{corpus: {path: text}} for the corpora asked for (see short_corpora.py)."""
    makers = {
        "short": lambda f: short_corpora.synthetic(f, args.clips),
        "real": lambda f: short_corpora.real(f, args.clips),
        "tiny": lambda f: short_corpora.tiny(f, args.clips),
        "long": lambda f: short_corpora.long(f, args.long_seconds),
    }
    return {name: makers[name](folder / name) for name in args.corpora.split(",")}


def contenders(args, model: str, root: Path, files: list[str]) -> dict[str, list[str]]:
    py = sys.executable
    runs = {}
    for name in args.contenders.split(","):
        options = CONTENDERS[name]
        if options is None:
            tuned = TUNED
            if args.device == "cuda":  # the same loop with the engine's CUDA settings
                tuned = TUNED.replace('device="cpu", compute_type="int8", cpu_threads=1,',
                                      'device="cuda", compute_type="float16",')  # fmt: skip
            runs[name] = [py, "-c", tuned.format(model=model), json.dumps(files)]
            continue
        options = {k: args.batch_size if v == "N" else v for k, v in options.items()}
        options["device"] = args.device
        runs[name] = [py, "-c", SWBATCH, str(root), model, json.dumps(options)]
    return runs


def texts_of(name: str, root: Path, files: list[str], out: str) -> tuple[dict[str, str], int]:
    """Each file's text, and how many files were packed with others."""
    if name == "tuned":
        return json.loads(out), 0
    texts, packed = {}, 0
    for f in files:
        doc = json.loads((root / "whisper_json" / f"{Path(f).name}.json").read_text())
        texts[f] = " ".join(s["text"] for s in doc["segments"])
        packed += doc["options"].get("packed_clips", 0) > 1
    return texts, packed


class GpuMemory:
    """Peak GPU memory in use while a contender runs (nvidia-smi, every 0.2 s)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.peak, self._stop = enabled, 0, threading.Event()

    def __enter__(self) -> GpuMemory:
        if self.enabled:
            threading.Thread(target=self._poll, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()

    def _poll(self) -> None:
        query = ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"]
        while not self._stop.wait(0.2):
            out = subprocess.run(query, capture_output=True, text=True).stdout.split()
            self.peak = max([self.peak, *(int(x) for x in out if x.isdigit())])


def measure(args, model: str, corpora: dict, workdir: Path, meaningless: bool) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "SLOWER_WHISPER_CACHE_ROOT": str(workdir / "cache")}  # fmt: skip
    result = {}
    for corpus, truth in corpora.items():
        files = sorted(truth)
        root = Path(files[0]).parent.parent
        total = audio_seconds(files)
        runs: dict[str, list[dict]] = {}
        for rep in range(args.repeats):
            for name, cmd in contenders(args, model, root, files).items():
                with GpuMemory(args.device == "cuda") as gpu:
                    wall, rss, out = run_isolated(cmd, env)
                texts, packed = texts_of(name, root, files, out)
                real = [f for f in files if "espeak" not in f and "/real/" in f]
                wer = wer_real = None
                if not meaningless:
                    wer = corpus_wer([truth[f] for f in files], [texts[f] for f in files])
                    if real:
                        wer_real = corpus_wer([truth[f] for f in real], [texts[f] for f in real])
                runs.setdefault(name, []).append({"wall": wall, "peak_rss": rss, "packed": packed,
                                                  "gpu_mib": gpu.peak, "wer": wer,
                                                  "wer_real": wer_real})  # fmt: skip
                print(f"{corpus} rep {rep + 1} {name:17s} {wall:7.2f} s {total / wall:6.1f}x "
                      f"wer {wer} real {wer_real} packed {packed} rss {rss >> 20} MiB",
                      file=sys.stderr, flush=True)  # fmt: skip
        result[corpus] = summarise(runs, total, len(files))
    return result


def summarise(runs: dict, total: float, n_files: int) -> dict:
    rows = {}
    for name, reps in runs.items():
        wall = statistics.median(r["wall"] for r in reps)
        wers = [r["wer"] for r in reps if r["wer"] is not None]
        real = [r["wer_real"] for r in reps if r["wer_real"] is not None]
        rows[name] = {
            "wall_seconds": round(wall, 2),
            "rtf_x_realtime": round(total / wall, 2),
            "files_per_second": round(n_files / wall, 2),
            "wer": round(statistics.median(wers), 4) if wers else None,
            "wer_real": round(statistics.median(real), 4) if real else None,
            "packed_files": max(r["packed"] for r in reps),
            "peak_rss_mib": round(max(r["peak_rss"] for r in reps) / 2**20),
            "peak_gpu_mib": max(r["gpu_mib"] for r in reps) or None,
            "walls": [round(r["wall"], 2) for r in reps],
        }
    for row in rows.values():
        if "tuned" in rows:
            row["vs_tuned"] = round(rows["tuned"]["wall_seconds"] / row["wall_seconds"], 3)
    return {"files": n_files, "audio_seconds": round(total, 1), "contenders": rows}


def build_large_v3_random(folder: Path, tokenizer_from: str) -> str:
    """A CTranslate2 Whisper with large-v3's dimensions and random weights, built here.

    transformers ``WhisperConfig`` with large-v3's sizes (d_model 1280, 32+32 layers, 20 heads,
    128 mel bins), randomly initialised in float16, converted with ctranslate2's
    ``TransformersConverter`` (int8_float16). The vocabulary is tiny.en's (51,864 tokens, 2 fewer
    than large-v3's) so that tiny.en's tokenizer serves: no download is needed, and the compute per
    token is the same to within 0.01 %.
    """
    target = folder / "large-v3-random-ct2"
    if (target / "model.bin").exists():
        return str(target)
    import torch
    from ctranslate2.converters import TransformersConverter
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(
        vocab_size=51864, num_mel_bins=128, d_model=1280, encoder_layers=32, decoder_layers=32,
        encoder_attention_heads=20, decoder_attention_heads=20, encoder_ffn_dim=5120,
        decoder_ffn_dim=5120, max_source_positions=1500, max_target_positions=448,
        decoder_start_token_id=50257, eos_token_id=50256, bos_token_id=50256, pad_token_id=50256,
    )  # fmt: skip
    torch.set_default_dtype(torch.float16)
    model = WhisperForConditionalGeneration(config)
    hf = folder / "large-v3-random-hf"
    model.save_pretrained(hf)
    del model
    source = Path(tokenizer_from)
    shutil.copy(source / "tokenizer.json", hf / "tokenizer.json")
    TransformersConverter(str(hf), copy_files=["tokenizer.json"]).convert(
        str(target), quantization="int8_float16", force=True
    )
    shutil.rmtree(hf)
    # tiny.en's token rules (suppressed ids, no language tokens) fit the shared vocabulary
    ours, theirs = (json.loads((p / "config.json").read_text()) for p in (target, source))
    for key in ("suppress_ids", "suppress_ids_begin", "lang_ids"):
        ours[key] = theirs.get(key, ours.get(key))
    (target / "config.json").write_text(json.dumps(ours))
    (target / "preprocessor_config.json").write_text(json.dumps({"feature_size": 128}))
    return str(target)


def markdown(result: dict) -> str:
    gpu = result["gpu"]
    lines = [
        f"Model: {result['model']}; device {result['device']}; batch size {result['batch_size']}; "
        f"machine: {result['machine']}{', GPU ' + gpu if gpu else ''}.",
    ]
    if result["meaningless_words"]:
        lines.append("Random weights: the words are meaningless (no WER); the times stand for the "
                     "compute of a model of large-v3's size.")  # fmt: skip
    for corpus, data in result["corpora"].items():
        lines += [
            "",
            f"**{corpus}**: {data['files']} files, {data['audio_seconds'] / 60:.1f} min of audio",
            "",
            "| contender | wall (s) | x real time | files/s | vs tuned | WER | WER real "
            "| packed files | peak RSS (MiB) | peak GPU (MiB) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, row in data["contenders"].items():
            wer, real = ("-" if v is None else f"{v:.3f}" for v in (row["wer"], row["wer_real"]))
            vs = f"{row['vs_tuned']:.2f}x" if "vs_tuned" in row else "-"
            lines.append(
                f"| {name} | {row['wall_seconds']:.1f} | {row['rtf_x_realtime']:.1f} | "
                f"{row['files_per_second']:.2f} | {vs} | {wer} | {real} | {row['packed_files']} "
                f"| {row['peak_rss_mib']} | {row['peak_gpu_mib'] or '-'} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=150, help="files in each short corpus")
    parser.add_argument("--corpora", default="short,long", help="comma list: short,real,tiny,long")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help="comma list of " + ",".join(CONTENDERS))  # fmt: skip
    parser.add_argument("--long-seconds", type=float, default=300.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--model", help="model folder (default: tiny.en of the demo set)")
    parser.add_argument(
        "--large-v3-random",
        action="store_true",
        help="time a random-weight model of large-v3's dimensions (built here)",
    )
    parser.add_argument("--workdir", help="where corpora and built models go (default: temp)")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--name", help="results file name (default: batching-DEVICE)")
    args = parser.parse_args()
    if not shutil.which("espeak-ng"):
        sys.exit("batching.py needs espeak-ng (apt-get install espeak-ng)")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="swbatch-batching-"))
    model = args.model or _demo_model_path()
    if args.large_v3_random:
        model = build_large_v3_random(workdir, _demo_model_path())
    corpora = make_corpora(workdir / "corpora", args)
    gpu = ""
    if args.device == "cuda":
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    result = {
        "model": "large-v3 dimensions, random weights" if args.large_v3_random else model,
        "meaningless_words": args.large_v3_random,
        "device": args.device,
        "batch_size": args.batch_size,
        "machine": machine(),
        "gpu": gpu,
        "corpora": measure(args, model, corpora, workdir, args.large_v3_random),
    }
    default = f"batching-{args.device}{'-large-v3-random' if args.large_v3_random else ''}"
    name = args.name or default
    write_results(args.out, name, result, markdown(result))


if __name__ == "__main__":
    main()
