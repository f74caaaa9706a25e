"""Every model a batch uses, loaded once per process and shared by the worker threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from ..cache import CachePaths
from . import arenas
from .infer import LoadedWhisper, load_whisper


class LoadedModels:
    """Whisper models by name, the diarizer and the emotion models, each loaded on first use.

    Whisper models are resolved through the cache up front (:meth:`resolve`), so a model missing
    from the cache stops the batch before any audio is touched. Made before the run's threads
    start, it limits the process's malloc arenas (:mod:`.arenas`) for them.
    """

    def __init__(
        self, paths: CachePaths, device: str, compute_type: str, threads: int, workers: int
    ):
        self.paths = paths
        self.device = device
        self.compute_type = compute_type
        self.threads = threads
        self.workers = workers
        arenas.limit(workers)
        self._resolved: dict[str | None, Any] = {}
        self._loaded: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def resolve(self, names: Iterable[str | None]) -> None:
        """Resolve the Whisper models of every job (``None``: the cache's default model)."""
        from ..models import default_whisper_model, resolve_model

        for name in set(names):
            self._resolved[name] = (
                resolve_model(name, "whisper", self.paths)
                if name
                else default_whisper_model(self.paths)
            )

    def _once(self, key: tuple, loader: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = loader()
            return self._loaded[key]

    def whisper(self, name: str | None) -> LoadedWhisper:
        return self._once(
            ("whisper", name),
            lambda: load_whisper(
                self._resolved[name], self.device, self.compute_type, self.threads, self.workers
            ),
        )

    def resolved(self, name: str | None) -> Any:
        """The resolved (not loaded) Whisper model of ``name``."""
        return self._resolved[name]

    def diarizer(self, name: str | None = None):
        """The diarization pipeline ``name`` (None: the default one)."""
        from ..diarization import load_diarizer

        return self._once(
            ("diarization", name), lambda: load_diarizer(name, self.device, self.paths)
        )

    def emotion(self, dimensional: bool, name: str | None = None):
        """The categorical (or dimensional) emotion model ``name`` (None: the default one)."""
        from ..emotion import load_emotion

        return self._once(
            ("emotion", dimensional, name),
            lambda: load_emotion(name, self.device, self.paths, dimensional=dimensional),
        )
