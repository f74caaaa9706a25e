"""Real human speech with reference transcripts, for tests and benchmarks (tests/data/real).

Synthetic speech proves plumbing; accuracy claims need real voices. This module is the one way in
to the committed set: which utterances there are (filter by subset and duration), their reference
text, Whisper's English normaliser (the `whisper-normalizer` package, so WER is scored the way the
Whisper paper scores it), a corpus WER over normalised text, and a helper that joins utterances
into one long recording with the reference spans a diarization test turns into RTTM.

It also lists the real multi-speaker meeting clips with their reference RTTMs (tests/data/real/
diarization). Benchmarks import it by putting tests/ on sys.path. See tests/data/real/SOURCES.md for
where each file came from, its licence and how it was converted.
"""

from __future__ import annotations

import csv
import functools
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data" / "real"
REFERENCES = DATA_DIR / "references.tsv"
MEETINGS = DATA_DIR / "diarization"
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Utterance:
    """One recording of one speaker, with the corpus's own transcript."""

    id: str
    path: Path
    speaker: str
    subset: str  # test-other, test-clean, dev-clean or jfk
    duration_s: float
    text: str


@dataclass(frozen=True)
class Span:
    """Where one utterance lies in a joined recording (seconds), and who speaks it."""

    start: float
    end: float
    speaker: str
    utterance_id: str


@dataclass(frozen=True)
class JoinedRecording:
    """A long recording made of several utterances, with what a reference needs."""

    path: Path
    text: str  # the utterances' reference texts, in order, joined by spaces
    spans: tuple[Span, ...]

    def rttm(self, file_id: str | None = None) -> str:
        """The spans as RTTM lines (one SPEAKER line per utterance)."""
        uri = file_id or self.path.stem
        return "".join(
            f"SPEAKER {uri} 1 {s.start:.3f} {s.end - s.start:.3f} <NA> <NA> {s.speaker} <NA> <NA>\n"
            for s in self.spans
        )


@dataclass(frozen=True)
class Turn:
    """One stretch of one speaker's speech in a reference RTTM (seconds)."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class Meeting:
    """A real multi-speaker recording with its reference RTTM (who speaks when, no words)."""

    id: str
    path: Path
    rttm: Path

    def turns(self) -> list[Turn]:
        """The reference turns, in file order."""
        out = []
        for line in self.rttm.read_text(encoding="utf-8").splitlines():
            f = line.split()
            if f and f[0] == "SPEAKER":
                out.append(Turn(float(f[3]), float(f[3]) + float(f[4]), f[7]))
        return out

    def speakers(self) -> list[str]:
        """The reference speakers, sorted."""
        return sorted({t.speaker for t in self.turns()})


def meetings() -> list[Meeting]:
    """The meeting clips of tests/data/real/diarization, sorted by id."""
    return [
        Meeting(p.stem, audio, p)
        for p in sorted(MEETINGS.glob("*.rttm"))
        for audio in sorted(MEETINGS.glob(f"{p.stem}.*"))
        if audio.suffix != ".rttm"
    ]


@functools.cache
def _all() -> tuple[Utterance, ...]:
    with REFERENCES.open(newline="", encoding="utf-8") as fh:
        rows = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        return tuple(
            Utterance(
                id=row["id"],
                path=DATA_DIR / row["file"],
                speaker=row["speaker"],
                subset=row["subset"],
                duration_s=float(row["duration_s"]),
                text=row["text"],
            )
            for row in rows
        )


def utterances(
    subset: str | Iterable[str] | None = None,
    max_duration: float | None = None,
    min_duration: float | None = None,
) -> list[Utterance]:
    """The set's utterances in file order, optionally only these subsets and durations."""
    wanted = {subset} if isinstance(subset, str) else set(subset) if subset is not None else None
    return [
        u
        for u in _all()
        if (wanted is None or u.subset in wanted)
        and (max_duration is None or u.duration_s <= max_duration)
        and (min_duration is None or u.duration_s >= min_duration)
    ]


def utterance(utt_id: str) -> Utterance:
    """One utterance by id (KeyError names the id when the set has no such utterance)."""
    for u in _all():
        if u.id == utt_id:
            return u
    raise KeyError(utt_id)


def reference(utt_id: str) -> str:
    """The corpus's transcript of one utterance."""
    return utterance(utt_id).text


@functools.cache
def _normalizer():
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    """Whisper's English text normaliser: case, punctuation, spelling, numbers made comparable."""
    return _normalizer()(text)


def corpus_wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word error rate over a whole corpus (errors summed over all words), both sides normalised.

    One number for the set, as the Whisper paper reports it, not a mean of per-file rates.
    """
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    refs = [normalize(r) for r in references]
    hyps = [normalize(h) for h in hypotheses]
    kept = [(r, h) for r, h in zip(refs, hyps, strict=True) if r.strip()]
    if not kept:
        raise ValueError("no reference has any words after normalisation")
    return jiwer.wer([r for r, _ in kept], [h for _, h in kept])


def join(utts: Sequence[Utterance], out: Path, gap_s: float = 1.0) -> JoinedRecording:
    """Write ``utts`` end to end into one 16-kHz mono WAV at ``out``, ``gap_s`` of digital
    silence between them, and return it with the joined reference text and per-utterance spans."""
    import numpy as np
    from faster_whisper import decode_audio

    if not utts:
        raise ValueError("nothing to join")
    gap = np.zeros(round(gap_s * SAMPLE_RATE), dtype=np.float32)
    pieces, spans, cursor = [], [], 0
    for i, u in enumerate(utts):
        if i:
            pieces.append(gap)
            cursor += len(gap)
        audio = decode_audio(str(u.path), sampling_rate=SAMPLE_RATE)
        end = cursor + len(audio)
        spans.append(Span(cursor / SAMPLE_RATE, end / SAMPLE_RATE, u.speaker, u.id))
        pieces.append(audio)
        cursor += len(audio)
    write_wav(out, np.concatenate(pieces))
    return JoinedRecording(out, " ".join(u.text for u in utts), tuple(spans))


def write_wav(path: Path, samples) -> Path:
    """Float samples in [-1, 1] as a 16-bit mono 16-kHz WAV (the standard library's writer)."""
    import numpy as np

    pcm = np.clip(samples, -1.0, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((pcm * 32767).astype("<i2").tobytes())
    return path
