"""deploy/slurm/swbatch-array.sbatch on a real Slurm: a one-node cluster started here (munged,
slurmctld, slurmd from Debian's munge and slurm-wlm, all as root, all state in a temp folder),
the array submitted with sbatch, one array task cancelled, `swbatch summary` naming the shard to
rerun, and a resubmission of that one index completing the batch."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, run_cli
from test_shard import make_corpus

from swbatch.plan import read_plan
from swbatch.status import read_status

SBATCH = REPO / "deploy" / "slurm" / "swbatch-array.sbatch"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo")
#: bounds on every wait, so a broken cluster fails the test instead of hanging CI
START_SECONDS = 60
BATCH_SECONDS = 400


def _tool(name: str) -> str | None:
    """Daemons live in /usr/sbin, which a non-login PATH may lack."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root: the test starts munged, slurmctld and slurmd itself"
    missing = [name for name in (*DAEMONS, *CLIENTS, "munge") if not _tool(name)]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install slurm-wlm munge)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A one-node Slurm cluster whose daemons this process started (and stops)."""

    def __init__(self, home: Path):
        self.home = home
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = {**os.environ, "SLURM_CONF": str(home / "slurm.conf")}

    def start(self) -> None:
        home = self.home
        for sub in ("munge", "state", "spool", "log"):
            (home / sub).mkdir(mode=0o700 if sub == "munge" else 0o755)
        key = home / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.socket = home / "munge" / "munge.sock"
        self._spawn("munged", ["-F", "-f", f"--key-file={key}", f"--socket={self.socket}",
                               f"--pid-file={home / 'munged.pid'}",
                               f"--seed-file={home / 'munge' / 'seed'}",
                               f"--log-file={home / 'log' / 'munged.log'}"])  # fmt: skip
        self._wait("munged", self.socket.exists)
        (home / "slurm.conf").write_text(self.config())
        conf = str(home / "slurm.conf")
        self._spawn("slurmctld", ["-D", "-i", "-f", conf])
        self._spawn("slurmd", ["-D", "-N", "localhost", "-f", conf])
        self._wait("the node to be idle", lambda: self.run("sinfo", "-h", "-o", "%t") == "idle")

    def config(self) -> str:
        """Slurm's minimum for one node: no cgroups, no accounting, CPUs as the only resource."""
        home = self.home
        return "\n".join([
            "ClusterName=swbatchci", "SlurmctldHost=localhost",
            f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
            "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={self.socket}",
            f"StateSaveLocation={home / 'state'}", f"SlurmdSpoolDir={home / 'spool'}",
            f"SlurmctldPidFile={home / 'slurmctld.pid'}", f"SlurmdPidFile={home / 'slurmd.pid'}",
            f"SlurmctldLogFile={home / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={home / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU", "MpiDefault=none",
            "ReturnToService=2", "MailProg=/bin/true",
            "NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN",
            "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP", "",
        ])  # fmt: skip

    def _spawn(self, name: str, args: list[str]) -> None:
        with open(self.home / "log" / f"{name}.out", "wb") as log:  # the child keeps its own fd
            self.procs[name] = subprocess.Popen([_tool(name), *args], stdout=log, stderr=log,
                                                env=self.env, start_new_session=True)  # fmt: skip

    def _wait(self, what: str, ready, seconds: float = START_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                pytest.fail(f"waiting for {what}: {'exited: ' + ', '.join(dead) if dead else ''}"
                            f"\n{self.logs()}")  # fmt: skip
            time.sleep(0.2)

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        res = subprocess.run([_tool(args[0]), *args[1:]], env=env or self.env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        return res.stdout.strip() if res.returncode == 0 else f"rc={res.returncode} {res.stderr}"

    def submit(self, args: list[str], env: dict[str, str]) -> str:
        res = subprocess.run([_tool("sbatch"), "--parsable", *args], env={**self.env, **env},
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert res.returncode == 0, f"sbatch: {res.stderr}\n{self.logs()}"
        return res.stdout.strip().split(";")[0]

    def wait_gone(self, job: str, seconds: float = BATCH_SECONDS) -> None:
        """Until no task of ``job`` is pending or running."""
        self._wait(f"job {job} to end", lambda: self.run("squeue", "-h", "-j", job) == "", seconds)

    def states(self, job: str) -> dict[str, str]:
        """{array task id: state} of a finished job (slurmctld keeps it for MinJobAge, 300 s)."""
        out = self.run("scontrol", "-o", "show", "job", job)
        fields = [
            dict(f.split("=", 1) for f in line.split() if "=" in f) for line in out.splitlines()
        ]
        return {f["ArrayTaskId"]: f["JobState"] for f in fields if "ArrayTaskId" in f}

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted((self.home / "log").iterdir()))  # fmt: skip

    def stop(self) -> None:
        """Cancel what is left, then stop the daemons this object started, newest first."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self.run("scancel", "--user=root")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                left = self.run("squeue", "-h")
                if left == "" or left.startswith("rc="):
                    break
                time.sleep(0.5)
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    home = tmp_path / "slurm"
    home.mkdir()
    cluster = Cluster(home)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def test_sbatch_array_cancel_one_task_then_rerun_it(cluster, tmp_path, speech_files, demo_env):
    count = 3
    data = tmp_path / "corpus"
    seconds = make_corpus(data, speech_files, 9)
    logs = tmp_path / "joblogs"
    logs.mkdir()
    env = {**demo_env, "DATA": str(data), "SHARDS": str(count), "DEVICE": "cpu",
           "SWBATCH": f"{sys.executable} -m swbatch.cli"}  # fmt: skip
    # The script's own GPU-cluster requests, scaled to this node on the command line (as a site
    # would); the script runs as it is in the repo.
    sbatch = ["--gres=none", "--cpus-per-task=1", "--mem=500M", "--time=15",
              f"--output={logs}/%A_%a.out", "--chdir", str(tmp_path)]  # fmt: skip
    args = ["--model", "demo", "--workers", "1", "--quiet"]

    # Held, so that cancelling task 1 comes before it could run; tasks 0 and 2 then run.
    job = cluster.submit([*sbatch, "--hold", f"--array=0-{count - 1}", str(SBATCH), *args], env)
    cancelled = cluster.run("scancel", f"{job}_1")
    assert not cancelled.startswith("rc="), cancelled
    cluster.run("scontrol", "release", job)
    cluster.wait_gone(job)
    states = cluster.states(job)
    ran = sorted(p.name for p in logs.iterdir())
    assert (states["0"], states["2"]) == ("COMPLETED", "COMPLETED"), (
        f"{states}\n{cluster.logs()}\n" + "\n".join(p.read_text() for p in logs.iterdir())
    )
    assert states.get("1", "CANCELLED") == "CANCELLED" and ran == [f"{job}_0.out", f"{job}_2.out"]

    plan = read_plan(data, count)
    assert plan is not None, "the first task to start published the plan"
    theirs = {rel for rel in seconds if plan.owner(rel) == 1}
    assert theirs, "shard 1 must own some files for its cancellation to matter"
    res = run_cli(["summary", str(data)], demo_env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "rerun shard(s): 1/3" in res.stdout, res.stdout
    report = json.loads(run_cli(["summary", str(data), "--json"], demo_env).stdout)
    assert {m["id"] for m in report["missing_jobs"]} == theirs
    assert {m["shard"] for m in report["missing_jobs"]} == {"1/3"}

    rerun = cluster.submit([*sbatch, "--array=1", str(SBATCH), *args], env)
    cluster.wait_gone(rerun)
    assert cluster.states(rerun) == {"1": "COMPLETED"}, cluster.logs()
    res = run_cli(["summary", str(data), "--json"], demo_env)
    report = json.loads(res.stdout)
    assert res.returncode == 0 and report["complete"], res.stdout
    assert (report["done"], report["missing"], report["shard_count"]) == (9, 0, count)
    done = Counter(r["id"] for r in read_status(data) if r["state"] == "done")
    assert set(done) == set(seconds) and set(done.values()) == {1}, "each file once"
    assert {r["shard"] for r in read_status(data) if r["id"] in theirs} == {"1/3"}
    for rel in seconds:
        assert json.loads((data / "whisper_json" / f"{rel}.json").read_text())["segments"]
