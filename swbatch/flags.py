"""The one table of batch flags, shared by `transcribe`, `run`, job manifests and the pipeline.

Each flag is declared once here: its name, default, help line, whether a job manifest may set it
per job (``per_job``) or it is batch-wide, how a value is checked (:mod:`swbatch.checks`), and
which part of a result it shapes. The CLI builds its signature, ``--help`` and ``--no-FLAG``
forms from this table, a manifest's fields and types come from it,
:class:`swbatch.jobs.JobSettings` is made from its per-job rows, faster-whisper's keyword
arguments come from its ``asr`` names, and a finished job's fingerprint from its ``shapes``
column. A new flag is one new row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .checks import (
    boolean,
    choice,
    folder,
    formats,
    language,
    number,
    temperatures,
    text,
    whole,
)
from .checks import (
    nullable as _nullable,
)
from .writers import DEFAULT_FORMATS, FORMATS

#: faster-whisper's own temperature fallback ladder (its default)
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
TASKS = ("transcribe", "translate")


@dataclass(frozen=True)
class Flag:
    """One flag; ``check`` turns a given value into the stored one or raises ValueError(reason)."""

    name: str
    default: Any
    help: str
    check: Callable[[Any], Any]
    per_job: bool = True
    #: what the value shapes: "asr" (the transcript), "diarize", "emotion" (an enrichment),
    #: "subtitles" (SRT/VTT only), or None (how the batch runs, not what it produces)
    shapes: str | None = None
    #: faster-whisper's keyword for it; "vad_parameters.X" goes into the VAD options
    asr: str | None = None

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def type(self) -> type | None:
        """The type of its values, where there is one (``--help`` shows it)."""
        return getattr(self.check, "type", None)

    @property
    def is_text(self) -> bool:
        """Its values are text, to be kept as typed (Fire would read ``a, b`` as a tuple)."""
        return self.type is str


_positive = number(0.0)
FLAGS: tuple[Flag, ...] = (
    # --- what to produce (per job) ---
    Flag("model", None, "model set (demo, large-v3..), name, repo id or folder; default: the "
         "cached one", _nullable(text), shapes="asr"),
    Flag("language", None, "language code; detected per file when absent", _nullable(language),
         shapes="asr", asr="language"),
    Flag("task", "transcribe", "transcribe or translate (to English)", choice(*TASKS),
         shapes="asr", asr="task"),
    Flag("formats", DEFAULT_FORMATS, "comma list of " + ",".join(FORMATS), formats),
    Flag("beam_size", 5, "beam search width", whole(1), shapes="asr", asr="beam_size"),
    Flag("temperature", TEMPERATURES, "sampling temperature, or a comma list tried in turn when "
         "a window fails the thresholds", temperatures, shapes="asr", asr="temperature"),
    Flag("initial_prompt", None, "text the model continues from: spellings, names, style "
         "(the first window's prompt)", _nullable(text), shapes="asr", asr="initial_prompt"),
    Flag("hotwords", None, "words to favour (names, jargon), given to every window",
         _nullable(text), shapes="asr", asr="hotwords"),
    Flag("condition_on_previous_text", True, "feed each window the text before it "
         "(--no-condition-on-previous-text against repetition loops)", boolean, shapes="asr",
         asr="condition_on_previous_text"),
    Flag("no_speech_threshold", 0.6, "a window above this no-speech probability (and below "
         "the log-prob threshold) is silence", number(0.0, 1.0), shapes="asr",
         asr="no_speech_threshold"),
    Flag("log_prob_threshold", -1.0, "retry a window at the next temperature below this "
         "average log probability", number(high=0.0), shapes="asr", asr="log_prob_threshold"),
    Flag("compression_ratio_threshold", 2.4, "retry a window whose text compresses more than "
         "this (repetition)", _positive, shapes="asr", asr="compression_ratio_threshold"),
    Flag("hallucination_silence_threshold", None, "skip silences longer than this many seconds "
         "around a suspected hallucination (turns on word timestamps)", _nullable(_positive),
         shapes="asr", asr="hallucination_silence_threshold"),
    Flag("vad", False, "skip non-speech with faster-whisper's Silero VAD (--vad / --no-vad)",
         boolean, shapes="asr", asr="vad_filter"),
    Flag("vad_threshold", 0.5, "with --vad: speech probability above which audio is speech",
         number(0.0, 1.0), shapes="asr", asr="vad_parameters.threshold"),
    Flag("vad_min_silence_ms", 2000, "with --vad: silence this long (ms) ends a speech chunk",
         whole(0), shapes="asr", asr="vad_parameters.min_silence_duration_ms"),
    Flag("vad_speech_pad_ms", 400, "with --vad: padding (ms) kept around each speech chunk",
         whole(0), shapes="asr", asr="vad_parameters.speech_pad_ms"),
    Flag("silence_gate", True, "drop segments in which Silero VAD hears no speech at all (text "
         "Whisper writes over silence, noise or music; kept in the JSON's dropped_over_silence); "
         "--no-silence-gate keeps them", boolean, shapes="asr"),
    Flag("word_timestamps", False, "add per-word times and probabilities", boolean,
         shapes="asr", asr="word_timestamps"),
    Flag("diarize", False, "add speakers (pyannote; needs the diarization extra)", boolean,
         shapes="diarize"),
    Flag("diarization_model", None, "diarization pipeline: a model name "
         "(pyannote/speaker-diarization-community-1 or -3.1) or a folder", _nullable(text),
         shapes="diarize"),
    Flag("num_speakers", None, "exact number of speakers, when known", _nullable(whole(1)),
         shapes="diarize"),
    Flag("min_speakers", None, "lower bound on speakers", _nullable(whole(1)), shapes="diarize"),
    Flag("max_speakers", None, "upper bound on speakers", _nullable(whole(1)), shapes="diarize"),
    Flag("speaker_link_similarity", None, "files longer than a window: cosine similarity at which "
         "groups of window speakers are one speaker (default 0.5)", _nullable(number(-1.0, 1.0)),
         shapes="diarize"),
    Flag("emotion", False, "categorical speech emotion per segment (needs the emotion extra)",
         boolean, shapes="emotion"),
    Flag("emotion_model", None, "categorical emotion model: a model name or a folder",
         _nullable(text), shapes="emotion"),
    Flag("emotion_dimensional", False, "valence/arousal/dominance per segment (non-commercial "
         "model)", boolean, shapes="emotion"),
    Flag("emotion_dimensional_model", None, "dimensional emotion model: a model name or a "
         "folder", _nullable(text), shapes="emotion"),
    Flag("max_line_width", None, "SRT/VTT: at most this many characters per line (cues split "
         "at word boundaries)", _nullable(whole(1)), shapes="subtitles"),
    Flag("max_line_count", None, "SRT/VTT: at most this many lines per cue (with "
         "--max-line-width)", _nullable(whole(1)), shapes="subtitles"),
    # --- how the batch runs (batch-wide) ---
    Flag("device", "auto", "auto, cpu or cuda", choice("auto", "cpu", "cuda"), per_job=False),
    Flag("compute_type", "auto", "auto (int8 on CPU, float16 on CUDA) or a ctranslate2 type",
         text, per_job=False),
    Flag("batch_size", None, "30-s chunks decoded at once, chunks of many files sharing a batch "
         "(default: 8 on CUDA, 1 on CPU; on CPU at most 2 per model call, for memory)",
         _nullable(whole(1)), per_job=False),
    Flag("pack", True, "short files (up to 12 s, language known) share 30-s windows, decoded "
         "once and split back at the gaps (--no-pack: each file alone)", boolean,
         per_job=False),
    Flag("workers", None, "files transcribed at once (default: one per core on CPU, 2 on CUDA)",
         _nullable(whole(1)), per_job=False),
    Flag("skip_existing", True, "skip jobs done with the same settings (the default)", boolean,
         per_job=False),
    Flag("overwrite", False, "redo every job, even one done with the same settings", boolean,
         per_job=False),
    Flag("dry_run", False, "only list the jobs that would run, be skipped or redone, and why",
         boolean, per_job=False),
    Flag("quiet", False, "no progress output (failures are still reported)", boolean,
         per_job=False),
    Flag("report", True, "write OUTPUT/.swbatch/report.html, the batch as one offline page, at "
         "the end (--report / --no-report)", boolean, per_job=False),
    Flag("output", None, "folder for outputs, status record, summary and job claims (shards "
         "share one); nothing is written beside the input, which may then be read-only",
         _nullable(folder), per_job=False),
    Flag("shard", None, "INDEX/COUNT (from 0): run one shard only; default: the scheduler's "
         "array index", _nullable(text), per_job=False),
)  # fmt: skip

BY_NAME = {f.name: f for f in FLAGS}
JOB_FLAGS = tuple(f for f in FLAGS if f.per_job)
BATCH_FLAGS = tuple(f for f in FLAGS if not f.per_job)
NEGATABLE = tuple(f.name for f in FLAGS if isinstance(f.default, bool))


def check(name: str, value: Any) -> Any:
    """The stored value of flag ``name``, or ValueError(reason) for a bad one."""
    return BY_NAME[name].check(value)


def cross_check(values: dict[str, Any]) -> list[str]:
    """Problems between flags (each value already checked on its own)."""
    low, high = values.get("min_speakers"), values.get("max_speakers")
    if low is not None and high is not None and low > high:
        return [f"--min-speakers {low} is more than --max-speakers {high}"]
    return []


def asr_kwargs(settings: Any) -> dict[str, Any]:
    """faster-whisper's keyword arguments for a job's settings (the ``asr`` column).

    Word timestamps are turned on when diarization or the hallucination-silence filter needs
    them (faster-whisper applies that filter only with word timestamps).
    """
    kwargs: dict[str, Any] = {}
    vad: dict[str, Any] = {}
    for flag in JOB_FLAGS:
        if flag.asr is None:
            continue
        value = getattr(settings, flag.name)
        if flag.asr.startswith("vad_parameters."):
            vad[flag.asr.split(".", 1)[1]] = value
        else:
            kwargs[flag.asr] = list(value) if isinstance(value, tuple) else value
    if kwargs["vad_filter"]:
        kwargs["vad_parameters"] = vad
    kwargs["word_timestamps"] = bool(
        kwargs["word_timestamps"]
        or settings.diarize
        or settings.hallucination_silence_threshold is not None
    )
    return kwargs
