"""A real single-node Slurm for tests: munge, slurmctld and slurmd from the distribution.

- The whole cluster lives in one directory: ``SLURM_CONF=DIR/slurm.conf`` points every daemon
  and client there (gres.conf is then read from DIR too), so ``/etc/slurm`` is never read.
- Each cluster has its own ports, node name, cluster name, state, spool, log and pid files, so
  two pytest-xdist workers (or a developer's own Slurm) run side by side on one host.
- Four fake GPUs are GRES whose ``File=`` are character devices made with ``mknod``: Slurm
  schedules them for real and sets ``CUDA_VISIBLE_DEVICES`` per job (a ``Count`` without
  ``File`` leaves the node with no GPU).
- Two CPUs and one CPU per job: two 1-GPU jobs run at once and a third waits. ``DefMemPerCPU``
  keeps memory from serialising jobs.
- A higher-tier partition ``urgent`` preempts ``debug`` jobs with ``PreemptMode=CANCEL``: the
  victim ends in state ``PREEMPTED`` and is not requeued by Slurm.
- ``MessageTimeout=3``: a client facing a stopped slurmctld gives up after about 2 s instead of
  about 9 s (it retries the connection once a second for MessageTimeout - 1 seconds).
- ``batch_sched_delay=0,sched_min_interval=0``: a submitted job, or one waiting for a job that
  just ended, starts about 1 s later instead of 2 to 3 s (Slurm's defaults batch submissions for
  3 s and run the scheduler at most every 2 s, for clusters with thousands of jobs a minute).
- munged is shared by the whole host: started if its socket does not answer, never stopped
  (another worker's cluster may be using it).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
GPUS = 4
CPUS = 2
SEARCH_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
"""Where Slurm's tools are looked up: PATH as the run started, so a test that empties PATH
(``sbatch`` missing) does not stop the cluster's own teardown."""

SLURM_CONF = """\
ClusterName={cluster}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
AuthType=auth/munge
GresTypes=gpu
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
SlurmdParameters=config_overrides
ReturnToService=2
MessageTimeout=3
KillWait=5
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MailProg=/bin/true
PreemptType=preempt/partition_prio
PreemptMode=CANCEL
StateSaveLocation={dir}/state
SlurmdSpoolDir={spool}
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={dir}/jobcomp.txt
NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={cpus} Gres=gpu:{gpus} \
RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=urgent Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=2
"""

GRES_CONF = """\
AutoDetect=off
NodeName={node} Name=gpu File={dir}/nvidia[0-{last}]
"""


class ClusterError(RuntimeError):
    """The test cluster could not start or stop; the message carries the daemons' log tails."""


@dataclass
class Cluster:
    """A running single-node Slurm; ``env`` is what a client needs in its environment."""

    conf_dir: Path
    node: str
    env: dict[str, str]
    spool: Path
    """slurmd's spool, kept short on purpose (see ``_configure``); removed by ``stop``."""
    partition: str = "debug"
    urgent: str = "urgent"
    gpus: int = GPUS
    cpus: int = CPUS
    max_concurrent: int = CPUS
    """How many 1-GPU, 1-CPU jobs run at once: the CPUs bind before the GPUs do."""
    _controller_down: bool = field(default=False, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A Slurm tool (``squeue``, ``sbatch``, ``slurmctld`` ...) run against this cluster."""
        tool = shutil.which(argv[0], path=SEARCH_PATH) or argv[0]
        proc = subprocess.run(
            [tool, *argv[1:]],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and proc.returncode != 0:
            raise ClusterError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def stop_controller(self) -> None:
        """Stop slurmctld only: clients then fail with "Unable to contact slurm controller"."""
        self._controller_down = True
        pid = _read_pid(self.conf_dir / "slurmctld.pid")
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            _wait_gone([pid], STOP_TIMEOUT)
            _kill([pid])

    def start_controller(self) -> None:
        """Start slurmctld again; it recovers its jobs from the state directory."""
        self._controller_down = False
        if self.controller_up():
            return
        self.run("slurmctld")
        _wait_for(self.controller_up, START_TIMEOUT, lambda: self._failure("slurmctld restart"))
        # A restarted slurmctld asks its nodes to register only after 3 s (a constant of its
        # own), keeping the node ``unk`` and new jobs pending till then; a reconfigure asks now.
        self.run("scontrol", "reconfigure", check=False)

    def controller_up(self) -> bool:
        """Whether slurmctld answers."""
        return self.run("scontrol", "ping", check=False).stdout.count("is UP") > 0

    def node_state(self) -> str:
        """The node's short state as sinfo prints it (``idle``, ``mix``, ``alloc``...), or "".

        Not ``sinfo -n NODE``: after a slurmctld restart that one kept printing ``mix`` for a
        node that ``scontrol show node`` and plain ``sinfo`` called idle (22.05.8).
        """
        proc = self.run("sinfo", "-h", "-N", "-p", self.partition, "-o", "%N %t", check=False)
        states = dict(line.split() for line in proc.stdout.splitlines() if len(line.split()) == 2)
        return states.get(self.node, "")

    def idle(self) -> bool:
        """Whether the node is up and idle; a daemon that logged ``fatal:`` fails at once."""
        for name in ("slurmctld.log", "slurmd.log"):
            path = self.conf_dir / name
            if path.exists() and "fatal:" in path.read_text(errors="replace"):
                raise self._failure(f"{name} says fatal")
        return self.node_state() == "idle"

    def preempt(self, n_gpus: int = 1, command: str = "sleep 1") -> int:
        """Submit an ``urgent`` job taking ``n_gpus`` GPUs and one CPU per GPU; its job id.

        Slurm cancels just enough running ``debug`` jobs to fit it (state ``PREEMPTED``); on
        a full node (``max_concurrent`` 1-GPU jobs running) that is ``n_gpus`` of them.
        """
        proc = self.run(
            "sbatch", "--parsable", "-p", self.urgent, f"--gres=gpu:{n_gpus}",
            f"--cpus-per-task={n_gpus}", "-o", str(self.conf_dir / "urgent-%j.out"),
            "--wrap", command,
        )  # fmt: skip
        return int(proc.stdout.strip().split(";")[0])

    def squeue(self) -> list[dict[str, Any]]:
        """Every job slurmctld knows (finished ones for MinJobAge, 300 s), from ``squeue --json``."""
        # With slurmctld down, squeue --json exits 0 with an "errors" list and no jobs.
        data = json.loads(self.run("squeue", "--json").stdout)
        if data.get("errors"):
            raise ClusterError(f"squeue --json: {data['errors']}")
        return list(data["jobs"])

    def jobcomp(self) -> list[dict[str, Any]]:
        """Finished jobs from the jobcomp/filetxt file, oldest first.

        Each is a dict of the line's ``Key=Value`` fields as strings, except ``JobId`` (int)
        and ``StartTime`` / ``EndTime`` (epoch seconds, float; Slurm writes whole seconds).
        """
        path = self.conf_dir / "jobcomp.txt"
        if not path.exists():
            return []
        return [_jobcomp_record(line) for line in path.read_text().splitlines() if line.strip()]

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of slurmctld's and slurmd's logs, for error messages."""
        parts = []
        for name in ("slurmctld.log", "slurmd.log"):
            path = self.conf_dir / name
            text = path.read_text(errors="replace").splitlines() if path.exists() else ["(none)"]
            parts.append(f"--- {path} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, shut both daemons down, SIGKILL whatever is left of this cluster."""
        if self._stopped:
            return
        self._stopped = True
        # Teardown goes on to the SIGKILLs whatever the graceful part meets.
        with suppress(ClusterError, subprocess.TimeoutExpired):
            if self._controller_down:
                self.start_controller()
            if self.controller_up():
                self.cancel_all()
        # Read first: each daemon removes its pid file as it exits.
        pids = [_read_pid(self.conf_dir / f"{d}.pid") for d in ("slurmctld", "slurmd")]
        daemons = [pid for pid in pids if pid is not None]
        with suppress(subprocess.TimeoutExpired):
            self.run("scontrol", "shutdown", check=False)
        _wait_gone(daemons, STOP_TIMEOUT)
        _kill(daemons)
        _kill(self._leftovers())
        shutil.rmtree(self.spool, ignore_errors=True)

    def cancel_all(self) -> None:
        """Cancel every job and wait (bounded) until none is left and the node is idle again."""
        self.run("scancel", "--full", "--user", str(os.getuid()), check=False)
        _wait_for(
            lambda: not self._active_jobs() and self.node_state() == "idle",
            STOP_TIMEOUT,
            lambda: None,
        )

    def _active_jobs(self) -> bool:
        proc = self.run("squeue", "-h", "-o", "%i", check=False)
        return proc.returncode != 0 or bool(proc.stdout.strip())

    def _leftovers(self) -> list[int]:
        """Processes started with this cluster's SLURM_CONF (slurmscriptd, slurmstepd, jobs)."""
        marker = f"SLURM_CONF={self.env['SLURM_CONF']}".encode()
        mine = {os.getpid(), os.getppid()}
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in mine:
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                found.append(int(entry.name))
        return found

    def _failure(self, what: str) -> ClusterError:
        return ClusterError(
            f"{what}: the test Slurm in {self.conf_dir} is not up (waited at most "
            f"{START_TIMEOUT:.0f} s; node state {self.node_state()!r})\n{self.log_tail()}"
        )


@contextmanager
def running_cluster(directory: Path) -> Iterator[Cluster]:
    """A cluster in ``directory`` for the duration of the block, torn down even on failure."""
    cluster = start_cluster(directory)
    try:
        yield cluster
    finally:
        cluster.stop()


def start_cluster(directory: Path, attempts: int = 3) -> Cluster:
    """Write the config into ``directory`` and start slurmctld and slurmd; wait for ``idle``.

    Ports are drawn at random; a clash with another process (``Address already in use``) is
    retried with new ones in a fresh subdirectory.
    """
    _require_tools()
    ensure_munged()
    for attempt in range(attempts):
        cluster = _configure(directory / f"c{attempt}")
        try:
            cluster.run("slurmctld")
            cluster.run("slurmd", "-N", cluster.node)
            _wait_for(
                cluster.idle,
                START_TIMEOUT,
                lambda c=cluster: c._failure("start"),
            )
            return cluster
        except ClusterError:
            clash = "Address already in use" in cluster.log_tail(lines=200)
            cluster.stop()
            if not clash or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def ensure_munged() -> None:
    """Start munged unless one already answers on the host's socket; never stop it."""
    if _munge_answers():
        return
    MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["chown", "munge:munge", str(MUNGE_SOCKET.parent)], check=True)
    # --force: a socket left by a munged that died is stale, not in use. Two workers may race
    # here; the loser's munged exits on the lock and the winner's answers both.
    subprocess.run(
        ["runuser", "-u", "munge", "--", str(shutil.which("munged", path=SEARCH_PATH)), "--force"],
        capture_output=True,
        timeout=30,
    )
    _wait_for(
        _munge_answers,
        START_TIMEOUT,
        lambda: ClusterError(f"munged did not answer on {MUNGE_SOCKET}; see /var/log/munge/"),
    )


def _configure(directory: Path) -> Cluster:
    directory.mkdir(parents=True)
    (directory / "state").mkdir()
    # slurmstepd listens on SPOOL/NODE_JOB.STEP, a Unix socket: at most 108 bytes, which a
    # pytest tmp_path overruns (the job's launch then fails and Slurm holds it).
    spool = Path(tempfile.mkdtemp(prefix="slurmd-", dir="/tmp"))
    for index in range(GPUS):
        os.mknod(directory / f"nvidia{index}", 0o666 | 0o020000, os.makedev(195, index))
    suffix = uuid.uuid4().hex[:8]
    node, cluster = f"node{suffix}", f"test{suffix}"
    ctld_port, slurmd_port = random.sample(range(20000, 32000), 2)
    values = {
        "dir": directory, "spool": spool, "node": node, "cluster": cluster, "host": socket.gethostname(),
        "ctld_port": ctld_port, "slurmd_port": slurmd_port, "cpus": CPUS, "gpus": GPUS,
        "last": GPUS - 1,
    }  # fmt: skip
    (directory / "slurm.conf").write_text(SLURM_CONF.format(**values))
    (directory / "gres.conf").write_text(GRES_CONF.format(**values))
    env = {"SLURM_CONF": str(directory / "slurm.conf")}
    return Cluster(conf_dir=directory, node=node, env=env, spool=spool)


def _require_tools() -> None:
    missing = [name for name in DAEMONS if shutil.which(name, path=SEARCH_PATH) is None]
    if missing:
        raise ClusterError(
            f"{', '.join(missing)} not installed: the Slurm tests need the distribution's "
            "packages (apt-get install slurmctld slurmd slurm-client munge; .ci/run does it)"
        )
    if os.geteuid() != 0:
        raise ClusterError("the test Slurm runs its daemons as root (mknod, SlurmUser=root)")


def _munge_answers() -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(MUNGE_SOCKET))
        except OSError:
            return False
    return True


_JOBCOMP_FIELD = re.compile(r"(\w+)=(.*?)(?= \w+=|\s*$)")


def _jobcomp_record(line: str) -> dict[str, Any]:
    record: dict[str, Any] = dict(_JOBCOMP_FIELD.findall(line))
    record["JobId"] = int(record["JobId"])
    for key in ("StartTime", "EndTime"):
        record[key] = datetime.fromisoformat(record[key]).timestamp()
    return record


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Alive and not a zombie (a daemon's zombie waits for init, which may be slow to reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], timeout: float) -> None:
    _wait_for(lambda: not any(_alive(pid) for pid in pids), timeout, lambda: None)


def _kill(pids: list[int]) -> None:
    for pid in pids:
        if _alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    _wait_gone(pids, STOP_TIMEOUT)


def _wait_for(
    done: Callable[[], bool], timeout: float, failure: Callable[[], Exception | None]
) -> None:
    """Poll ``done()`` every 0.2 s; past ``timeout`` raise ``failure()`` (if it returns one)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            error = failure()
            if error is not None:
                raise error
            return
        time.sleep(0.2)
