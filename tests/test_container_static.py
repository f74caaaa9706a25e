"""Static checks of the container build: Dockerfile lint, workflow schema, and the bake file.

The bake file is parsed with a real HCL parser (python-hcl2) and every target is resolved the way
`docker buildx bake --print` would (variables with environment overrides, inherits, matrix
expansion, interpolation); then each resolved target is checked against the Dockerfile's stages and
ARGs, the model-set manifests and the pinned requirements. Docker's own bake is not available here.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DOCKERFILE = REPO / "Dockerfile"
BAKE = REPO / "docker-bake.hcl"
CONTAINER = REPO / "scripts" / "container"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def _tool(name: str) -> str:
    """A tool installed by the dev extra, next to this interpreter (or on PATH)."""
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return str(path)


# --- Dockerfile ----------------------------------------------------------------------------------


def test_hadolint_passes():
    res = subprocess.run(
        [_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_dockerfile_builds_with_buildah_too():
    """No `# syntax=` line and no heredocs: podman/buildah 1.28 and older BuildKit lack them."""
    text = DOCKERFILE.read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I)
    assert not re.search(r"<<-?\s*['\"]?[A-Za-z_]+", text)


def dockerfile_stages() -> dict[str, set[str]]:
    """Stage name -> the ARGs it declares (plus the global ARGs before the first FROM)."""
    stages: dict[str, set[str]] = {"": set()}
    current = ""
    for line in DOCKERFILE.read_text().splitlines():
        if m := re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.I):
            current = m.group(1)
            stages[current] = set()
        elif m := re.match(r"ARG\s+([A-Za-z_][A-Za-z0-9_]*)", line):
            stages[current].add(m.group(1))
    return stages


def test_runtime_contract_in_dockerfile():
    """The runtime image's environment, user and entry point are the documented contract."""
    text = DOCKERFILE.read_text()
    for env in (
        "SLOWER_WHISPER_CACHE_ROOT=/models/cache",
        "HF_HUB_OFFLINE=1",
        "PYANNOTE_METRICS_ENABLED=false",
    ):
        assert env in text
    assert 'ENTRYPOINT ["swbatch"]' in text
    assert re.search(r"^USER 1000:1000$", text, re.M)
    assert re.search(r"^WORKDIR /data$", text, re.M)
    assert {"base", "builder", "models", "no-models", "runtime"} <= set(dockerfile_stages())
    assert "--mount=type=secret,id=hf_token" in text


# --- workflows -----------------------------------------------------------------------------------


def test_workflows_validate_against_the_github_schema():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "docker.yml"}
    res = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
        + [str(p) for p in WORKFLOWS],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_ci_caches_models_keyed_on_the_manifests():
    ci = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    steps = [s for job in ci["jobs"].values() for s in job["steps"]]
    caches = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache@")]
    assert caches and "hashFiles('swbatch/model_sets/**')" in caches[0]["with"]["key"]


# --- bake file: a small resolver over python-hcl2's parse -----------------------------------------

IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"
REF = re.compile(rf"^{IDENT}(\.{IDENT})*$")
INTERP = re.compile(r"\$\{([^{}]*)\}")


META = ("__is_block__", "__comments__")  # python-hcl2's bookkeeping keys, not attributes


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def _lookup(ref: str, scope: dict):
    """Value of a plain reference such as `variant` or `set.name`; anything else is unsupported."""
    ref = ref.strip()
    if not REF.match(ref):
        raise AssertionError(
            f"bake expression {ref!r} is not a plain reference: extend the resolver"
        )
    head, *rest = ref.split(".")
    value = scope[head]
    for part in rest:
        value = value[part]
    return value


def evaluate(expr, scope: dict):
    """Evaluate python-hcl2's rendering of an HCL expression: literals, references, templates."""
    if isinstance(expr, list):
        return [evaluate(e, scope) for e in expr]
    if isinstance(expr, dict):
        return {_unquote(k): evaluate(v, scope) for k, v in expr.items() if k not in META}
    if not isinstance(expr, str):
        return expr
    if expr.startswith('"') and expr.endswith('"'):
        return INTERP.sub(lambda m: str(_lookup(m.group(1), scope)), expr[1:-1])
    if (m := INTERP.fullmatch(expr)) is not None:
        return _lookup(m.group(1), scope)
    return _lookup(expr, scope)


def _blocks(doc: dict, kind: str) -> dict[str, dict]:
    return {_unquote(k): v for block in doc.get(kind, []) for k, v in block.items()}


def resolve_bake(overrides: dict[str, str] | None = None) -> tuple[dict, dict]:
    """(targets, groups) with every matrix expanded, as `docker buildx bake --print` shows them."""
    import hcl2

    with BAKE.open() as fh:
        doc = hcl2.load(fh)
    variables = {
        name: evaluate(body.get("default", '""'), {})
        for name, body in _blocks(doc, "variable").items()
    }
    variables.update(overrides or {})
    raw_targets = _blocks(doc, "target")
    targets: dict[str, dict] = {}
    expanded: dict[str, list[str]] = {}
    for name, body in raw_targets.items():
        matrix = evaluate(body.get("matrix", {}), variables)
        keys = list(matrix)
        expanded[name] = []
        for combo in itertools.product(*(matrix[k] for k in keys)) if keys else [()]:
            scope = {**variables, **dict(zip(keys, combo, strict=True))}
            resolved = _resolve_target(name, body, raw_targets, scope)
            full = evaluate(body["name"], scope) if "name" in body else name
            assert full not in targets, f"two bake targets resolve to {full}"
            targets[full] = resolved
            expanded[name].append(full)
    groups = {
        name: [t for ref in evaluate(body["targets"], variables) for t in expanded.get(ref, [ref])]
        for name, body in _blocks(doc, "group").items()
    }
    return targets, groups


def _resolve_target(name: str, body: dict, raw: dict, scope: dict) -> dict:
    """Merge a target over what it inherits (maps merge, other attributes are replaced)."""
    out: dict = {}
    for parent in evaluate(body.get("inherits", []), scope):
        for key, value in _resolve_target(parent, raw[parent], raw, scope).items():
            out[key] = value
    for key, value in body.items():
        if key in (*META, "matrix", "name", "inherits"):
            continue
        value = evaluate(value, scope)
        out[key] = {**out[key], **value} if isinstance(value, dict) and key in out else value
    return out


@pytest.fixture(scope="module")
def bake() -> tuple[dict, dict]:
    return resolve_bake()


def _model_sets() -> dict[str, dict]:
    return {
        p.stem: yaml.safe_load(p.read_text())
        for p in sorted((REPO / "swbatch" / "model_sets").glob("*.yaml"))
    }


def test_every_model_set_has_a_cpu_and_a_gpu_image(bake):
    targets, _groups = bake
    images = {n for n, t in targets.items() if t.get("target") == "runtime"}
    expected = {f"{s}-{v}" for s in _model_sets() for v in ("cpu", "gpu")}
    assert images == expected
    assert {n for n, t in targets.items() if t.get("target") == "no-models"} == {
        "no-models-cpu",
        "no-models-gpu",
    }


def test_each_target_matches_the_dockerfile_and_the_repo(bake):
    """Stage, build args, requirements file, model set, extras and tags of every resolved target."""
    targets, _groups = bake
    stages = dockerfile_stages()
    declared = set().union(*stages.values())
    sets = _model_sets()
    for name, t in targets.items():
        if name.startswith("_"):
            continue
        args = t["args"]
        assert t["target"] in stages, name
        assert t["dockerfile"] == "Dockerfile" and t["context"] == "."
        assert set(args) <= declared, f"{name}: args the Dockerfile never declares"
        variant = args["VARIANT"]
        assert name.endswith(f"-{variant}")
        req = (
            "requirements-cpu.txt"
            if variant == "cpu"
            else f"requirements-gpu-cu{args['CUDA_MAJOR']}.txt"
        )
        assert (CONTAINER / req).is_file(), f"{name}: no {req}"
        assert t["labels"]["org.opencontainers.image.title"] == "swbatch"
        if t["target"] == "no-models":
            assert "MODEL_SET" not in args
            assert t["tags"] == [
                f"docker.io/library/swbatch:{name}",
                f"docker.io/library/swbatch:{name}-0.1.0",
            ]
            continue
        model_set = args["MODEL_SET"]
        assert name == f"{model_set}-{variant}"
        assert sets[model_set]["name"] == model_set
        kinds = {m["kind"] for m in sets[model_set]["models"]}
        extras = set(filter(None, args["EXTRAS"].split(",")))
        assert extras == kinds & {"emotion", "diarization"}, f"{name}: extras {extras} for {kinds}"
        assert ("ffmpeg" in args["APT_PACKAGES"].split()) == ("diarization" in kinds), name
        assert t["labels"]["io.github.swbatch.model-set"] == model_set
        assert t["tags"] == [
            f"docker.io/library/swbatch:{name}",
            f"docker.io/library/swbatch:{name}-0.1.0",
        ]
        assert t["secret"] == ["id=hf_token,env=HF_TOKEN"]
        assert all(f"scope={name}" in c for c in t["cache-from"] + t["cache-to"])


def test_bake_variables_can_be_overridden(bake):
    """REGISTRY and TAG from the environment, as bake reads them, reach every tag."""
    targets, _groups = resolve_bake({"REGISTRY": "ghcr.io/me", "TAG": "1.2.3"})
    assert targets["large-v3-gpu"]["tags"] == [
        "ghcr.io/me/swbatch:large-v3-gpu",
        "ghcr.io/me/swbatch:large-v3-gpu-1.2.3",
    ]
    assert all(tag.startswith("ghcr.io/me/") for t in targets.values() for tag in t.get("tags", []))


def test_bake_groups_name_real_targets(bake):
    targets, groups = bake
    assert set(groups["default"]) == {"demo-cpu", "demo-gpu", "large-v3-cpu", "large-v3-gpu"}
    assert set(groups["all"]) == {n for n in targets if not n.startswith("_")}


# --- pins ----------------------------------------------------------------------------------------


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_image_pins_cover_the_requirements_and_agree_with_torch_pins():
    pins = _pins(CONTAINER / "constraints.txt")
    assert all(pins.values()), "every line of constraints.txt is an exact == pin"
    for req in CONTAINER.glob("requirements-*.txt"):
        assert set(_pins(req)) <= set(pins), f"{req.name}: unpinned packages"
    torch = REPO / "constraints" / "torch.txt"
    if torch.exists():
        clash = {n: (v, w) for n, w in _pins(torch).items() if (v := pins.get(n)) and v != w}
        assert not clash, f"constraints disagree: {clash}"
