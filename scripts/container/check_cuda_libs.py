#!/usr/bin/env python3
"""Check, inside a GPU image, that every shared library the CUDA path loads resolves.

    podman run --rm --network none -v ./scripts/container:/check:ro --entrypoint python3 \\
        swbatch:no-models-gpu /check/check_cuda_libs.py

Works without a GPU: the driver's ``libcuda.so.1`` comes from the host at run time (the NVIDIA
container toolkit mounts it) and is the one library left out. What is checked, and why:

1. ``ldd`` of CTranslate2's shared library: its link-time dependencies all resolve.
2. The CUDA libraries it opens at run time with ``dlopen`` (not visible to ``ldd``): their names
   are read from the library itself, so a CTranslate2 upgrade that starts loading another one
   (cuDNN, NVRTC) fails this check instead of the first GPU run. Each must be one this image
   ships (``SHIPPED``), and each is loaded with ``ctypes.CDLL``, as the dynamic loader would.
3. ``ldd`` of each shipped library (cuBLAS links cuBLASLt).

Prints one line per library and exits 1 on the first class of problem found.
"""

from __future__ import annotations

import ctypes
import re
import subprocess
import sys
from pathlib import Path

#: what CTranslate2 4.8's PyPI wheel opens at run time on the CUDA path (docs/docker.md), all
#: from the nvidia-cublas-cu12 wheel
SHIPPED = ("libcublas.so.12", "libcublasLt.so.12")
#: the host's driver library, mounted at run time by the NVIDIA container toolkit
DRIVER = "libcuda.so.1"
#: only for tensor parallelism across GPUs (ctranslate2 tensor_parallel=True), never used here
OPTIONAL = ("libnccl.so.2", "libmpi.so.40")
#: the names of NVIDIA GPU libraries, as they appear inside a binary
CUDA_NAME = re.compile(rb"lib(?:cu[a-zA-Z]*|nvrtc[a-zA-Z-]*|nvJitLink|cudnn[a-z_]*)\.so\.\d+")


def ctranslate2_library() -> Path:
    """CTranslate2's own shared library (auditwheel puts it in ctranslate2.libs/)."""
    import ctranslate2

    site = Path(ctranslate2.__file__).resolve().parent.parent
    found = sorted(site.glob("ctranslate2.libs/libctranslate2*.so*")) or sorted(
        Path(ctranslate2.__file__).parent.glob("libctranslate2*.so*")
    )
    if not found:
        sys.exit("check: no libctranslate2 shared library next to the ctranslate2 package")
    return found[0]


def unresolved(library: Path | str) -> list[str]:
    """Dependencies ``ldd`` reports as ``not found``."""
    out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if "not found" in line]


def dlopened_cuda_names(library: Path) -> set[str]:
    """The CUDA library names embedded in ``library`` (what its dlopen calls ask for)."""
    return {m.decode() for m in CUDA_NAME.findall(library.read_bytes())}


def main() -> int:
    problems = []
    lib = ctranslate2_library()
    missing = unresolved(lib)
    print(f"ldd {lib.name}: {'ok' if not missing else 'not found: ' + ', '.join(missing)}")
    problems += [f"{lib.name} links {m}, which does not resolve" for m in missing]

    wanted = dlopened_cuda_names(lib) - {DRIVER} - set(OPTIONAL)
    print(f"{lib.name} opens at run time: {', '.join(sorted(wanted)) or 'nothing'}")
    problems += [
        f"{lib.name} opens {n}, which this image does not ship" for n in wanted - set(SHIPPED)
    ]

    for name in SHIPPED:
        try:
            handle = ctypes.CDLL(name)  # noqa: F841 (held: the library stays mapped)
        except OSError as exc:
            problems.append(f"{name}: {exc}")
            print(f"CDLL {name}: FAILED")
            continue
        path = _loaded_path(name)  # while `handle` keeps it loaded
        missing = unresolved(path) if path else []
        print(
            f"CDLL {name}: ok ({path})" + (f"; not found: {', '.join(missing)}" if missing else "")
        )
        problems += [f"{name} links {m}, which does not resolve" for m in missing]

    for problem in problems:
        print(f"check: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _loaded_path(name: str) -> str | None:
    """The file the dynamic loader picked for a loaded ``name`` (from /proc/self/maps)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.rstrip().endswith(name) or f"/{name}" in line:
            return line.split()[-1]
    return None


if __name__ == "__main__":
    sys.exit(main())
