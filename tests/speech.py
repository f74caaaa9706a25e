"""Speech with known text, made with espeak-ng: the ground truth for accuracy tests and benchmarks.

The voice and rate were chosen by measurement: tiny.en transcribes ``en`` at 120 words/minute with
a word error rate near 0.02, while faster, US-accented settings gave 0.08-0.17.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call me tomorrow morning at the office.",
    "The weather today is sunny with a light breeze from the west.",
    "We need to finish the report before the meeting on Friday.",
    "She bought three apples and a loaf of bread at the market.",
    "The train to the city leaves every hour from the main station.",
    "Our team will review the results and send a summary next week.",
    "He opened the window and listened to the birds in the garden.",
]
#: two espeak-ng voices taking turns: (voice, line), for diarization tests
DIALOGUE = [
    ("en-us", "Hello there, this is the first speaker talking about the weather today."),
    ("en+f4", "And I am the second speaker, answering with a different voice entirely."),
    ("en-us", "Thank you, that is all from the first speaker for now."),
    ("en+f4", "Goodbye from the second voice."),
]
VOICE = "en"
RATE = 120


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(path: Path, text: str, voice: str = VOICE, rate: int = RATE) -> Path:
    """Write ``text`` spoken by espeak-ng to the WAV file ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return path


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, single spaces: the text WER is computed on."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """WER over a corpus (jiwer), on normalised text."""
    import jiwer

    return jiwer.wer([normalise(r) for r in references], [normalise(h) for h in hypotheses])


#: encoder and sample rate PyAV uses to write each container in tests
_ENCODERS = {
    ".mp3": ("libmp3lame", 22050),
    ".ogg": ("libopus", 48000),
    ".opus": ("libopus", 48000),
    ".webm": ("libopus", 48000),
    ".flac": ("flac", 22050),
    ".m4a": ("aac", 22050),
    ".mkv": ("aac", 22050),
}


def convert(src: Path, dest: Path) -> Path:
    """Re-encode ``src`` into the format of ``dest``'s extension with PyAV (no ffmpeg binary)."""
    import av

    codec, rate = _ENCODERS[dest.suffix.lower()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    resampler = av.AudioResampler(format="s16" if codec == "flac" else "fltp", layout="mono",
                                  rate=rate)  # fmt: skip
    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        for frame in inp.decode(audio=0):
            for resampled in resampler.resample(frame):
                out.mux(stream.encode(resampled))
        for resampled in resampler.resample(None):
            out.mux(stream.encode(resampled))
        out.mux(stream.encode(None))
    return dest


#: more sentences for long recordings: enough that one rarely repeats within whisper's prompt
#: (about ten sentences), since a prompt full of repeats makes the model repeat them
MORE_SENTENCES = [
    "My sister planted tomatoes and beans in the small garden behind the house.",
    "The library will be closed on Monday for the public holiday.",
    "A large ship sailed slowly into the harbour early this morning.",
    "Remember to bring your passport and a warm jacket for the trip.",
    "The children played football in the park until it got dark.",
    "Our new neighbour is a doctor who works at the city hospital.",
    "The price of coffee has gone up again this month.",
    "He wrote a long letter to his grandmother about the summer holidays.",
    "The museum has a famous painting of a horse in a green field.",
    "Turn left at the bakery and walk straight on to the river.",
    "The students asked many questions after the lecture on history.",
    "We watched an old film about a detective in London.",
    "The kitchen smells of fresh bread and strong coffee.",
    "Snow is expected in the mountains over the weekend.",
    "The manager thanked everyone for their hard work this year.",
    "A small dog was sleeping under the table in the corner.",
    "Please switch off the lights when you leave the room.",
    "The bus was late because of heavy traffic on the bridge.",
    "They are building a new school next to the old church.",
    "I would like a cup of tea with milk and no sugar.",
    "The farmer sold eggs and cheese at the village market.",
    "Our flight to Paris was delayed by two hours.",
    "The teacher read a story about a king and his three sons.",
    "Water boils at one hundred degrees at sea level.",
]
#: pauses between the sentences of a long recording, in seconds, used in turn
PAUSES = (0.6, 1.1, 0.4, 1.6, 0.8, 2.3, 0.5, 1.3, 0.9)


def long_speech(path: Path, seconds: float) -> list[str]:
    """Write about ``seconds`` of speech to ``path`` (WAV or FLAC by extension), sentence after
    sentence with pauses between them, in bounded memory; returns the sentences in order.

    Each sentence is spoken once by espeak-ng and reused; the order rotates so that neighbours
    change along the recording. Long recordings for accuracy tests and the long-audio benchmark.
    """
    import wave

    import av
    import numpy as np

    texts = SENTENCES + MORE_SENTENCES
    voiced = []
    for i, text in enumerate(texts):
        wav = speak(path.parent / f".{path.stem}-s{i}.wav", text)
        with wave.open(str(wav)) as fh:
            rate = fh.getframerate()
            voiced.append(np.frombuffer(fh.readframes(fh.getnframes()), dtype=np.int16))
        wav.unlink()
    codec = "flac" if path.suffix.lower() == ".flac" else "pcm_s16le"
    spoken: list[str] = []
    total = 0
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        while total < seconds * rate:
            n = len(spoken)
            pick = (n * 7 + n // len(texts)) % len(texts)
            pause = np.zeros(int(PAUSES[n % len(PAUSES)] * rate), dtype=np.int16)
            chunk = np.concatenate([voiced[pick], pause])
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
            spoken.append(texts[pick])
            total += len(chunk)
        for packet in stream.encode(None):
            out.mux(packet)
    return spoken
