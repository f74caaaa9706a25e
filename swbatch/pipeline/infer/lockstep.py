"""One step of sequential decoding for many lanes at once: the batched path's decoder.

faster-whisper's ``BatchedInferencePipeline`` decodes every 30-s chunk alone: no previous text as
prompt, no timestamps (so a chunk ends wherever the cut fell), no temperature fallback. On 13 min
of real speech (LibriSpeech) tiny.en read it at WER 0.146 against 0.103 for the sequential loop.

Here a *lane* is a stretch of audio decoded the way faster-whisper's sequential loop decodes a
file (``WhisperModel.generate_segments``): 30 s from the lane's seek, prompted with the lane's own
text so far, with timestamps, the seek moved to the last complete segment. A step takes the next
30 s of many lanes (of one file or many) and runs them through the encoder and the decoder as one
batch, each with its own prompt; what differs from the loop is only what cannot be batched:

- a chunk whose text fails the compression-ratio or log-probability check is decoded again alone
  with faster-whisper's own ``generate_with_fallback`` (all temperatures, as the loop does);
- the hallucination-silence filter is not applied (faster-whisper's batched pipeline drops it too).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from ...audio import SAMPLE_RATE

if TYPE_CHECKING:
    from .model import LoadedWhisper

#: arguments that are per lane (prompts) or handled before the decoder (VAD), not options
_NOT_OPTIONS = ("initial_prompt", "vad_filter", "vad_parameters", "clip_timestamps")


@dataclasses.dataclass
class Step:
    """The next piece of a lane: up to 30 s of audio from its seek, and its text so far."""

    samples: np.ndarray
    prompt: list[int]
    #: seconds of ``samples[0]`` on the window's time line
    offset: float
    #: the samples reach the end of the lane: words still open at its end are closed there
    last: bool = False


@dataclasses.dataclass
class Decoded:
    """What a step gave a lane: its segments, how far it got, what to prompt the next step with."""

    segments: list[Any]  # faster-whisper Segments, on the window's time line
    #: seconds of the step's audio now transcribed (the next step starts there)
    consumed: float
    #: the lane's prompt for its next step
    prompt: list[int]


@dataclasses.dataclass
class Decoder:
    """faster-whisper's options and tokenizer for one set of decoding arguments."""

    loaded: LoadedWhisper
    options: Any  # faster_whisper TranscriptionOptions
    tokenizer: Any

    @classmethod
    def for_kwargs(cls, loaded: LoadedWhisper, kwargs: dict) -> Decoder:
        """The options exactly as ``WhisperModel.transcribe`` builds them from ``kwargs``: it
        returns them before decoding anything (its segments are a lazy generator)."""
        from faster_whisper.tokenizer import Tokenizer

        model = loaded.model
        kwargs = {k: v for k, v in kwargs.items() if k not in _NOT_OPTIONS}
        _segments, info = model.transcribe(np.zeros(SAMPLE_RATE, np.float32), **kwargs)
        task = kwargs.get("task", "transcribe")
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task=task, language=info.language
        )
        return cls(loaded, info.transcription_options, tokenizer)

    def initial_prompt(self, prompt: str | list[int] | None) -> list[int]:
        """A lane's first prompt: the user's text, or the tokens the window before ended with."""
        if not prompt:
            return []
        if isinstance(prompt, str):
            return self.tokenizer.encode(" " + prompt.strip())
        return list(prompt)

    def run(self, steps: list[Step]) -> list[Decoded]:
        """One encoder and one decoder call for all ``steps``; each lane's result."""
        from faster_whisper.audio import pad_or_trim

        model, options = self.loaded.model, self.options
        frames = model.feature_extractor.nb_max_frames
        features, sizes = [], []
        for step in steps:
            feature = model.feature_extractor(step.samples)[..., :-1][:, :frames]
            sizes.append(max(1, feature.shape[-1]))
            features.append(pad_or_trim(feature))
        features = np.stack(features)
        encoded = model.encode(features)
        prompts = [self._prompt(step.prompt) for step in steps]
        longest = max(map(len, prompts))
        results = model.model.generate(encoded, prompts, **self._generate_kwargs(longest))
        decoded = []
        for i, (step, result) in enumerate(zip(steps, results, strict=True)):
            outcome = self._checked(result)
            if outcome is None:  # fails a check: faster-whisper's own fallback, for this one
                outcome = model.generate_with_fallback(
                    model.encode(features[i : i + 1]), prompts[i], self.tokenizer, options
                )
            decoded.append(self._segments(step, sizes[i], outcome))
        if options.word_timestamps:
            self._add_words(decoded, steps, encoded, sizes)
        return [self._finish(step, d) for step, d in zip(steps, decoded, strict=True)]

    def _prompt(self, previous: list[int]) -> list[int]:
        model = self.loaded.model
        return model.get_prompt(self.tokenizer, previous[-(model.max_length // 2 - 1) :],
                                without_timestamps=self.options.without_timestamps,
                                hotwords=self.options.hotwords)  # fmt: skip

    def _generate_kwargs(self, longest_prompt: int) -> dict:
        model, options = self.loaded.model, self.options
        max_length = model.max_length
        first = round(options.max_initial_timestamp / model.time_precision)
        if options.max_new_tokens is not None:
            max_length = min(max_length, longest_prompt + options.max_new_tokens)
        return dict(
            beam_size=options.beam_size, patience=options.patience,
            length_penalty=options.length_penalty, repetition_penalty=options.repetition_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size, max_length=max_length,
            return_scores=True, return_no_speech_prob=True, suppress_blank=options.suppress_blank,
            suppress_tokens=options.suppress_tokens,
            max_initial_timestamp_index=first,
        )  # fmt: skip

    def _checked(self, result: Any) -> tuple | None:
        """``generate_with_fallback``'s answer at temperature 0, or None where it would go on to
        higher temperatures (text too repetitive or too improbable, and not silence)."""
        from faster_whisper.transcribe import get_compression_ratio

        options = self.options
        tokens = result.sequences_ids[0]
        avg_logprob = result.scores[0] * len(tokens) ** options.length_penalty / (len(tokens) + 1)
        ratio = get_compression_ratio(self.tokenizer.decode(tokens).strip())
        low = options.log_prob_threshold is not None and avg_logprob < options.log_prob_threshold
        silence = (
            options.no_speech_threshold is not None
            and result.no_speech_prob > options.no_speech_threshold
            and low
        )
        repetitive = options.compression_ratio_threshold is not None and (
            ratio > options.compression_ratio_threshold
        )
        if (repetitive or low) and not silence and len(options.temperatures) > 1:
            return None
        return result, avg_logprob, options.temperatures[0], ratio

    def _segments(self, step: Step, size: int, outcome: tuple) -> dict:
        """The loop's no-speech skip and its split at timestamps, for one lane."""
        model, options = self.loaded.model, self.options
        result, avg_logprob = outcome[:2]
        duration = size * model.feature_extractor.time_per_frame
        skip = options.no_speech_threshold is not None and (
            result.no_speech_prob > options.no_speech_threshold
            and not (options.log_prob_threshold is not None
                     and avg_logprob > options.log_prob_threshold)
        )  # fmt: skip
        if skip:
            return {"parts": [], "seek": size, "single": True, "outcome": outcome}
        tokens = result.sequences_ids[0]
        if step.last and tokens and tokens[-1] < self.tokenizer.timestamp_begin:
            # The lane's last words, unfinished: the loop would decode the little audio after
            # the last timestamp again, prompted with these very words, and tiny.en then
            # repeats them (seen on espeak clips batched 4 at a time). End them at the lane end.
            end = self.tokenizer.timestamp_begin + round(duration / model.time_precision)
            tokens = [*tokens, end]
        start = round(step.offset * model.frames_per_second)  # word times count from here
        parts, seek, single = model._split_segments_by_timestamps(
            tokenizer=self.tokenizer, tokens=tokens, time_offset=step.offset,
            segment_size=size, segment_duration=duration, seek=start,
        )  # fmt: skip
        # As in the loop, text that ends with a timestamp pair is cut short of the chunk's end
        # (the model saw the next segment start but not finish): the lane goes on from there,
        # last step or not. Ending every last step at its end lost up to 13 s of speech there.
        return {"parts": parts, "seek": seek - start, "single": single, "outcome": outcome}

    def _add_words(self, decoded: list[dict], steps, encoded, sizes: list[int]) -> None:
        """Word times for every lane in one alignment pass; as the loop does, a lane whose last
        segment is unfinished goes on from its last word's end."""
        model = self.loaded.model
        options = self.options
        model.add_word_timestamps([d["parts"] for d in decoded], self.tokenizer, encoded, sizes,
                                  options.prepend_punctuations, options.append_punctuations,
                                  last_speech_timestamp=0.0)  # fmt: skip
        for d, step in zip(decoded, steps, strict=True):
            words = [w for p in d["parts"] for w in p.get("words", [])]
            if not d["single"] and words and words[-1]["end"] > step.offset:
                d["seek"] = round((words[-1]["end"] - step.offset) * model.frames_per_second)

    def _finish(self, step: Step, d: dict) -> Decoded:
        from faster_whisper.transcribe import Segment, Word

        model, options = self.loaded.model, self.options
        result, avg_logprob, temperature, ratio = d["outcome"]
        segments, prompt = [], list(step.prompt)
        for part in d["parts"]:
            text = self.tokenizer.decode(part["tokens"])
            if part["start"] == part["end"] or not text.strip():
                continue
            prompt.extend(part["tokens"])
            words = [Word(**w) for w in part["words"]] if options.word_timestamps else None
            segments.append(Segment(
                id=len(segments) + 1, seek=0, start=part["start"], end=part["end"], text=text,
                tokens=part["tokens"], temperature=temperature, avg_logprob=avg_logprob,
                compression_ratio=ratio, no_speech_prob=result.no_speech_prob, words=words,
            ))  # fmt: skip
        if not options.condition_on_previous_text or (
            temperature > options.prompt_reset_on_temperature
        ):
            prompt = []  # as the loop does: the next step starts without a prompt
        consumed = d["seek"] * model.feature_extractor.time_per_frame
        return Decoded(segments, consumed, prompt[-(model.max_length // 2 - 1) :])
