"""The real images: the CPU runtime with MODEL_SET=demo, used as users use it, and the GPU variant.

The builds go through scripts/container/build-image.sh, as a user's would: a Debian base made with
debootstrap and imported into podman (no registry is reachable), a wheelhouse filled on the host,
then `podman build --isolation chroot`. The models stage is built first without a token, then the
runtime with a dummy hf_token secret: its prefetch must run again (HF_TOKEN_GIVEN keys that layer),
and the token must appear in no layer of the runtime image nor of the models stage that read it.

Inside the demo image, with `--network none` and as uid 1000: `models`, `cache --show`, `cache
--verify`, and `transcribe` / `run` on a read-only input mount with `--output`, checking the words.
The GPU variant's no-models target is built too and checked for every CUDA library it loads
(scripts/container/check_cuda_libs.py); no GPU is needed for that.

Needs root, podman, runc and debootstrap (.ci/run installs them); skips with the reason otherwise.
Containers run with runc and explicit ulimits: on hosts with hybrid cgroups crun refuses to start,
and podman's default RLIMIT_NOFILE exceeds what a process without CAP_SYS_RESOURCE may set.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TAG = "localhost/swbatch-test:demo-cpu"
MODELS_TAG = "localhost/swbatch-test:demo-cpu-models"
MODELS_NO_TOKEN_TAG = "localhost/swbatch-test:demo-cpu-models-no-token"
GPU_TAG = "localhost/swbatch-test:no-models-gpu"
SETS = ("tiny", "base", "small", "medium", "large-v3", "large-v3-turbo", "full", "demo")
BASE = "localhost/swbatch-base:bookworm"
UID = 1000
RUN = [
    "podman", "--runtime", "runc", "run", "--rm", "--network", "none",
    "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
]  # fmt: skip

pytestmark = pytest.mark.container


def _missing_tools() -> list[str]:
    return [t for t in ("podman", "runc", "debootstrap") if shutil.which(t) is None]


if os.geteuid() != 0:
    pytest.skip("the image build needs root (debootstrap, rootful podman)", allow_module_level=True)
if missing := _missing_tools():
    pytest.skip(
        f"container tools not installed: {', '.join(missing)} (apt-get install podman runc "
        "debootstrap; .ci/run does)",
        allow_module_level=True,
    )


def _build(env_extra: dict[str, str], log: Path) -> float:
    """Run build-image.sh; return its wall time in seconds (the log keeps its output)."""
    env = {**os.environ, "BASE_IMAGE": BASE, "MODEL_SET": "demo", "VARIANT": "cpu", **env_extra}
    start = time.monotonic()
    with log.open("w") as out:
        res = subprocess.run(
            ["bash", str(REPO / "scripts" / "container" / "build-image.sh")],
            env=env, stdout=out, stderr=subprocess.STDOUT, timeout=1500,
        )  # fmt: skip
    assert res.returncode == 0, log.read_text()[-4000:]
    return time.monotonic() - start


def _make_base() -> float:
    start = time.monotonic()
    made = subprocess.run(
        ["bash", str(REPO / "scripts" / "container" / "make-base-image.sh"), BASE],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    return time.monotonic() - start


def _size(tag: str) -> int:
    return int(_podman("image", "inspect", "--format", "{{.Size}}", tag).strip())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The runtime image and its models stage; the models stage first without a token, then
    the runtime (and the models stage again) with a dummy token secret."""
    work = tmp_path_factory.mktemp("image")
    token = "hf_dummy" + secrets.token_hex(16)
    token_file = work / "hf_token"
    token_file.write_text(token)
    base_s = _make_base()
    no_token_log = work / "build-models-no-token.log"
    first_s = _build({"TAG": MODELS_NO_TOKEN_TAG, "TARGET": "models"}, no_token_log)
    log = work / "build.log"
    build_s = _build({"TAG": TAG, "HF_TOKEN_FILE": str(token_file)}, log)
    models_log = work / "build-models.log"
    _build({"TAG": MODELS_TAG, "TARGET": "models", "HF_TOKEN_FILE": str(token_file)}, models_log)
    size = _size(TAG)
    sys.stderr.write(
        f"\n[container] base image {base_s:.0f} s, models stage {first_s:.0f} s, runtime "
        f"{build_s:.0f} s (builder layers cached), demo-cpu image {size / 1e6:.0f} MB\n"
    )
    yield {"token": token, "log": log.read_text(), "work": work, "size": size}
    subprocess.run(["podman", "rmi", "-f", TAG, MODELS_TAG, MODELS_NO_TOKEN_TAG],
                   capture_output=True)  # fmt: skip
    subprocess.run(["podman", "image", "prune", "-f"], capture_output=True)


def _podman(*args: str) -> str:
    res = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _run(
    *args: str,
    volume: Path | None = None,
    entrypoint: str | None = None,
    mounts: tuple[str, ...] = (),
    tag: str = TAG,
):
    cmd = list(RUN)
    if volume is not None:
        cmd += ["-v", f"{volume}:/data"]
    for mount in mounts:
        cmd += ["-v", mount]
    if entrypoint is not None:
        cmd += ["--entrypoint", entrypoint]
    return subprocess.run([*cmd, tag, *args], capture_output=True, text=True, timeout=600)


def test_models_lists_every_set_and_marks_the_baked_one(built):
    res = _run("models", "--json")
    assert res.returncode == 0, res.stderr
    sets = {s["name"]: s for s in json.loads(res.stdout)["sets"]}
    assert set(sets) == set(SETS)
    assert [name for name, s in sets.items() if s["present"]] == ["demo"]
    text = _run("models").stdout
    assert "demo            [present]" in text
    assert "large-v3        [not in cache: swbatch prefetch large-v3]" in text


def test_a_set_that_is_not_baked_is_one_line_naming_the_prefetch(built, tmp_path):
    data = _speech_input(tmp_path, 1)
    res = _run("transcribe", "--root", "/data", "--output", "/out", "--model", "large-v3",
               mounts=(f"{data}:/data:ro", f"{_output_folder(tmp_path)}:/out"))  # fmt: skip
    assert res.returncode == 3, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "swbatch prefetch large-v3" in lines[0], res.stderr


def test_cache_show_lists_the_baked_model(built):
    res = _run("cache", "--show")
    assert res.returncode == 0, res.stderr
    assert "Root:         /models/cache" in res.stdout
    assert "Systran/faster-whisper-tiny.en" in res.stdout


def test_cache_verify_passes(built):
    res = _run("cache", "--verify")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "tiny.en" in res.stdout and "all files match the lock" in res.stdout


def test_runs_as_non_root_without_network(built):
    res = _run("-c", "import os; print(os.getuid(), sorted(os.listdir('/sys/class/net')))",
               entrypoint="python3")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[0] == str(UID)
    assert "eth0" not in res.stdout  # only the loopback device: --network none


def _speech_input(tmp_path: Path, count: int) -> Path:
    """``data/raw_audio/s<i>.wav`` of espeak-ng speech, readable by uid 1000, owned by root."""
    sys.path.insert(0, str(Path(__file__).parent))
    from speech import SENTENCES, have_espeak, speak

    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    data = tmp_path / "data"
    for i, text in enumerate(SENTENCES[:count]):
        speak(data / "raw_audio" / f"s{i}.wav", text)
    for path in [data, *data.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return data


def _output_folder(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    os.chown(out, UID, UID)
    return out


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in [folder, *folder.rglob("*")]}


def _check_words(out: Path, count: int) -> None:
    from speech import SENTENCES, word_error_rate

    hypotheses = []
    for i in range(count):
        txt = out / "transcripts" / f"s{i}.wav.txt"
        assert txt.stat().st_uid == UID, f"{txt} is owned by uid {txt.stat().st_uid}"
        hypotheses.append(txt.read_text())
    assert word_error_rate(SENTENCES[:count], hypotheses) < 0.25, hypotheses


@pytest.mark.parametrize("model", ["demo", "tiny.en"])
def test_transcribe_read_only_input_into_output(built, tmp_path, model):
    """`-v data:/data:ro -v out:/out ... transcribe --root /data --output /out --model M`."""
    data = _speech_input(tmp_path, 2)
    out = _output_folder(tmp_path)
    before = _tree(data)
    res = _run("transcribe", "--root", "/data", "--output", "/out", "--model", model,
               mounts=(f"{data}:/data:ro", f"{out}:/out"))  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    _check_words(out, 2)
    assert (out / ".swbatch" / "status.jsonl").is_file()
    assert _tree(data) == before, "something was written under the read-only input"
    summary = _run("summary", "/data", "--output", "/out",
                   mounts=(f"{data}:/data:ro", f"{out}:/out"))  # fmt: skip
    assert summary.returncode == 0, summary.stdout + summary.stderr


def test_run_manifest_on_read_only_mount_into_output(built, tmp_path):
    """`swbatch run /data/jobs.yaml --output /out` with the manifest on the read-only mount."""
    data = _speech_input(tmp_path, 2)
    (data / "jobs.yaml").write_text(
        "defaults: {model: demo}\njobs:\n  - {audio: raw_audio/s0.wav, output: s0.wav}\n"
        "  - {audio: raw_audio/s1.wav, output: s1.wav}\n"
    )
    (data / "jobs.yaml").chmod(0o644)
    out = _output_folder(tmp_path)
    before = _tree(data)
    res = _run("run", "/data/jobs.yaml", "--output", "/out",
               mounts=(f"{data}:/data:ro", f"{out}:/out"))  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    _check_words(out, 2)
    assert _tree(data) == before, "something was written under the read-only input"


def test_transcribe_writes_transcripts_owned_by_the_user(built, tmp_path):
    """`transcribe --root /data` on a mounted folder of espeak-ng speech, offline, as uid 1000."""
    sys.path.insert(0, str(Path(__file__).parent))
    from speech import SENTENCES, have_espeak, speak, word_error_rate

    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    data = tmp_path / "data"
    texts = dict(zip(("fox", "call"), SENTENCES[:2], strict=True))
    for name, text in texts.items():
        speak(data / "raw_audio" / f"{name}.wav", text)
    for path in [data, *data.rglob("*")]:
        os.chown(path, UID, UID)
    res = _run("transcribe", "--root", "/data", volume=data)
    assert res.returncode == 0, res.stdout + res.stderr
    hypotheses = []
    for name in texts:
        # swbatch names outputs after the input file: transcripts/<name>.wav.txt (or <name>.txt)
        [txt] = [p for p in (data / "transcripts").glob(f"{name}*.txt")]
        [js] = [p for p in (data / "whisper_json").glob(f"{name}*.json")]
        for out in (txt, js):
            assert out.stat().st_uid == UID, f"{out} is owned by uid {out.stat().st_uid}"
        hypotheses.append(txt.read_text())
    assert word_error_rate(list(texts.values()), hypotheses) < 0.25, hypotheses


def _layers_with(archive: Path, needle: bytes) -> list[str]:
    """Members of a `podman save` archive (and files inside its layer tars) containing needle."""
    hits = []
    with tarfile.open(archive) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            data = outer.extractfile(member).read()
            assert not data.startswith(b"\x1f\x8b"), "layers must be uncompressed to be searched"
            if needle in data:
                hits.append(member.name)
            if member.name.endswith(".tar"):
                hits += _files_with(outer.extractfile(member), member.name, needle)
    return hits


def _files_with(fileobj, layer: str, needle: bytes) -> list[str]:
    hits = []
    with tarfile.open(fileobj=fileobj) as inner:
        for item in inner.getmembers():
            if item.name.endswith("run/secrets/hf_token") or (
                item.isfile() and needle in inner.extractfile(item).read()
            ):
                hits.append(f"{layer}:{item.name}")
    return hits


def test_token_secret_leaves_no_trace(built):
    """The secret reached the prefetch RUN, yet no layer, config or history holds it.

    The models stage had been built (and cached) without a token just before: the prefetch ran
    again for the build with the token, so it did not reuse the token-less layer."""
    assert "hf_token: build secret mounted" in built["log"]
    assert built["token"] not in built["log"]
    needle = built["token"].encode()
    for tag in (TAG, MODELS_TAG):
        archive = built["work"] / (tag.rsplit(":", 1)[1] + ".tar")
        _podman("save", "--format", "docker-archive", "-o", str(archive), tag)
        assert _layers_with(archive, needle) == [], f"the token is in {tag}"
        archive.unlink()


@pytest.fixture(scope="module")
def gpu_image():
    """The GPU variant's no-models target (CUDA libraries from pip; no GPU needed to build)."""
    _make_base()
    log = Path(f"/tmp/swbatch-gpu-build-{os.getpid()}.log")
    build_s = _build({"TAG": GPU_TAG, "TARGET": "no-models", "VARIANT": "gpu"}, log)
    size = _size(GPU_TAG)
    sys.stderr.write(f"\n[container] no-models-gpu build {build_s:.0f} s, {size / 1e6:.0f} MB\n")
    log.unlink()
    yield GPU_TAG
    subprocess.run(["podman", "rmi", "-f", GPU_TAG], capture_output=True)
    subprocess.run(["podman", "image", "prune", "-f"], capture_output=True)


def test_gpu_image_resolves_every_cuda_library_it_loads(gpu_image):
    """ldd of CTranslate2's library, the CUDA libraries it dlopens (read from the binary) all
    shipped and loadable with ctypes.CDLL, their own dependencies resolved; libcuda.so.1 aside."""
    check = REPO / "scripts" / "container"
    res = _run("/check/check_cuda_libs.py", entrypoint="python3",
               mounts=(f"{check}:/check:ro",), tag=gpu_image)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "CDLL libcublas.so.12: ok" in res.stdout, res.stdout
    assert "opens at run time: libcublas.so.12" in res.stdout, res.stdout


def test_no_models_image_knows_every_set_and_prefetch_finds_them(gpu_image):
    """The no-models image ships the sets too: `models` lists them (none baked) and `prefetch`
    finds a set by name; offline, as here, it stops at the download with one line."""
    res = _run("models", "--json", tag=gpu_image)
    assert res.returncode == 0, res.stderr
    sets = json.loads(res.stdout)["sets"]
    assert {s["name"] for s in sets} == set(SETS) and not any(s["present"] for s in sets)
    res = _run("prefetch", "tiny", tag=gpu_image)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "unknown model set" not in res.stderr
    assert "cannot download Systran/faster-whisper-tiny" in res.stderr
    assert "HF_HUB_OFFLINE is set" in res.stderr
