"""CUDA out-of-memory handling of the ASR stage.

No GPU is available in CI, so the GPU's answer is stood in for: ``_transcribe_once`` raises the
RuntimeError ctranslate2 raises on CUDA OOM whenever the batch is larger than what "fits". The
retry policy in ``infer.window.transcribe`` is the real code under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from swbatch.models import ResolvedModel
from swbatch.pipeline.infer import window as asr

LOADED = asr.LoadedWhisper(
    model=None,
    resolved=ResolvedModel("large-v3", "whisper", None, None, Path("/models/x"), None),
    device="cuda",
    compute_type="float16",
)


@pytest.fixture
def gpu_fits(monkeypatch):
    """Make batches above ``limit`` fail like a full GPU; returns the batch sizes tried."""
    tried: list[int] = []

    def configure(limit: int):
        def fake_once(loaded, audio, options, context):
            tried.append(options.batch_size)
            if options.batch_size > limit:
                raise RuntimeError("CUDA failed with error out of memory")
            return {"options": {"batch_size": options.batch_size}, "segments": []}

        monkeypatch.setattr(asr, "_transcribe_once", fake_once)
        return tried

    return configure


def test_oom_retries_once_at_half_the_batch(gpu_fits):
    tried = gpu_fits(limit=8)
    result = asr.transcribe(LOADED, np.zeros(16000, np.float32), asr.AsrOptions(batch_size=16))
    assert tried == [16, 8]
    assert result["options"]["oom_retry_batch_size"] == 8


def test_second_oom_fails_the_job_with_a_clear_reason(gpu_fits):
    tried = gpu_fits(limit=2)
    with pytest.raises(
        asr.OutOfMemory, match=r"out of memory at batch size 16 then 8 with large-v3"
    ):
        asr.transcribe(LOADED, np.zeros(16000, np.float32), asr.AsrOptions(batch_size=16))
    assert tried == [16, 8]


def test_oom_at_batch_one_is_not_retried(gpu_fits):
    tried = gpu_fits(limit=0)
    with pytest.raises(asr.OutOfMemory, match="batch size 1 "):
        asr.transcribe(LOADED, np.zeros(16000, np.float32), asr.AsrOptions(batch_size=1))
    assert tried == [1]


def test_cross_file_batches_halve_until_they_fit_and_say_so_once(monkeypatch, capfd):
    """The batcher's own policy: the batch that ran out of memory is decoded again at half the
    size (and later batches stay small), one warning for the whole run."""
    from swbatch.pipeline.infer import crossfile

    sizes: list[int] = []

    def fake_run(self, key, batch):
        sizes.append(len(batch))
        if len(batch) > 2:
            raise RuntimeError("CUDA failed with error out of memory")
        return [[f"segments of chunk {c.index}"] for c in batch]

    monkeypatch.setattr(crossfile.Batcher, "_run", fake_run)
    batcher = crossfile.Batcher(LOADED, batch_size=8, consumers=1)
    chunks = [(np.zeros(16000, np.float32), float(i)) for i in range(7)]
    parts = batcher.submit({"language": "en"}, chunks).result(timeout=30)
    assert parts == [[f"segments of chunk {i}"] for i in range(7)]
    assert sizes[:2] == [7, 3] and set(sizes[2:]) <= {1, 2} and sum(sizes[2:]) == 7
    assert batcher.batch_size == 1 or batcher.batch_size == 2
    assert capfd.readouterr().err.count("batch size lowered") == 1


def test_a_chunk_that_never_fits_fails_its_file_with_a_reason(monkeypatch):
    from swbatch.pipeline.infer import crossfile

    def fake_run(self, key, batch):
        raise RuntimeError("cuBLAS failed with status CUBLAS_STATUS_ALLOC_FAILED")

    monkeypatch.setattr(crossfile.Batcher, "_run", fake_run)
    batcher = crossfile.Batcher(LOADED, batch_size=2, consumers=1)
    future = batcher.submit({"language": "en"}, [(np.zeros(16000, np.float32), 0.0)] * 2)
    with pytest.raises(asr.OutOfMemory, match="out of memory at batch size 1 with large-v3"):
        future.result(timeout=30)
