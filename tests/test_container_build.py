"""The real image: build the CPU runtime target with MODEL_SET=demo and run it with no network.

The build goes through scripts/container/build-image.sh, as a user's would: a Debian base made with
debootstrap and imported into podman (no registry is reachable), a wheelhouse filled on the host,
then `podman build --isolation chroot`. The build gets a dummy hf_token secret, which must appear in
no layer of the runtime image nor of the models stage that read it.

Needs root, podman, runc and debootstrap (.ci/run installs them); skips with the reason otherwise.
Containers run with runc and explicit ulimits: on hosts with hybrid cgroups crun refuses to start,
and podman's default RLIMIT_NOFILE exceeds what a process without CAP_SYS_RESOURCE may set.
"""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The runtime image and its models stage, built once with a dummy token secret."""
    work = tmp_path_factory.mktemp("image")
    token = "hf_dummy" + secrets.token_hex(16)
    token_file = work / "hf_token"
    token_file.write_text(token)
    base_start = time.monotonic()
    made = subprocess.run(
        ["bash", str(REPO / "scripts" / "container" / "make-base-image.sh"), BASE],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    base_s = time.monotonic() - base_start
    log = work / "build.log"
    build_s = _build({"TAG": TAG, "HF_TOKEN_FILE": str(token_file), "NO_CACHE": "1"}, log)
    models_log = work / "build-models.log"
    _build({"TAG": MODELS_TAG, "TARGET": "models", "HF_TOKEN_FILE": str(token_file)}, models_log)
    size = int(_podman("image", "inspect", "--format", "{{.Size}}", TAG).strip())
    sys.stderr.write(
        f"\n[container] base image {base_s:.0f} s, runtime build {build_s:.0f} s "
        f"(no cache), image size {size / 1e6:.0f} MB\n"
    )
    yield {"token": token, "log": log.read_text(), "work": work, "size": size}
    subprocess.run(["podman", "rmi", "-f", TAG, MODELS_TAG], capture_output=True)
    subprocess.run(["podman", "image", "prune", "-f"], capture_output=True)


def _podman(*args: str) -> str:
    res = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _run(*args: str, volume: Path | None = None, entrypoint: str | None = None):
    cmd = list(RUN)
    if volume is not None:
        cmd += ["-v", f"{volume}:/data"]
    if entrypoint is not None:
        cmd += ["--entrypoint", entrypoint]
    return subprocess.run([*cmd, TAG, *args], capture_output=True, text=True, timeout=600)


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
    """The secret reached the prefetch RUN, yet no layer, config or history holds it."""
    assert "hf_token: build secret mounted" in built["log"]
    assert built["token"] not in built["log"]
    needle = built["token"].encode()
    for tag in (TAG, MODELS_TAG):
        archive = built["work"] / (tag.rsplit(":", 1)[1] + ".tar")
        _podman("save", "--format", "docker-archive", "-o", str(archive), tag)
        assert _layers_with(archive, needle) == [], f"the token is in {tag}"
        archive.unlink()
