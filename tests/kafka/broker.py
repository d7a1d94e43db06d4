"""Driving deploy/kafka/kafka.sh from Python: for the Kafka tests and the benchmark.

A :class:`Broker` is one named instance of the real broker.  The shared
test instance is reference-counted across concurrent test sessions (each
registers its pid), so one session ending does not stop the broker another
is using; the fault and TLS tests run instances of their own, on free ports.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
DEFAULT_HOME = Path("/var/lib/ringside-kafka")


def free_port_block(n: int = 3, start: int = 20000, end: int = 40000) -> int:
    """A port P such that P .. P+n-1 are all free on 127.0.0.1 (now)."""
    port = start + (os.getpid() * 7) % (end - start - n)
    for _ in range(2000):
        if all(_free(p) for p in range(port, port + n)):
            return port
        port = start + (port + n - start) % (end - start - n)
    raise RuntimeError("no free block of ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Broker:
    def __init__(self, name: str, port: int, home: Path = DEFAULT_HOME,
                 tls_dir: Path | None = None, scram_users: dict[str, str] | None = None,
                 owner: str = "pytest") -> None:
        self.name = name
        self.port = port
        self.home = home
        self.tls_dir = tls_dir
        self.scram_users = scram_users or {}
        self.owner = owner

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def tls_bootstrap(self) -> str:
        return f"127.0.0.1:{self.port + 2}"

    @property
    def directory(self) -> Path:
        return self.home / self.name

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(RINGSIDE_KAFKA_NAME=self.name, RINGSIDE_KAFKA_PORT=str(self.port),
                   RINGSIDE_KAFKA_HOME=str(self.home), RINGSIDE_KAFKA_OWNER=self.owner)
        if self.tls_dir is not None:
            env["RINGSIDE_KAFKA_TLS_DIR"] = str(self.tls_dir)
        if self.scram_users:
            env["RINGSIDE_KAFKA_SCRAM_USERS"] = ",".join(
                f"{u}:{p}" for u, p in self.scram_users.items())
        return env

    def sh(self, command: str, check: bool = True, timeout: float = 300
           ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(KAFKA_SH), command], env=self._env(), capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"kafka.sh {command} failed ({result.returncode}):\n"
                               f"{result.stdout}{result.stderr}")
        return result

    def start(self) -> None:
        self.sh("start")

    def stop(self) -> None:
        self.sh("stop")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.sh("kill")

    def status(self) -> dict[str, str] | None:
        """``{"pid": ..., "port": ..., "owner": ...}`` while it runs, else None."""
        out = self.sh("status", check=False)
        if out.returncode != 0:
            return None
        fields = out.stdout.split()
        return dict(f.split("=", 1) for f in fields[1:])

    # ---- sharing one instance between test sessions ----

    def _users(self) -> Path:
        return self.directory / "users"

    def register(self) -> None:
        self._users().mkdir(parents=True, exist_ok=True)
        (self._users() / str(os.getpid())).touch()

    def unregister(self) -> int:
        """Forget this session; returns how many other live sessions still use the broker."""
        users = self._users()
        (users / str(os.getpid())).unlink(missing_ok=True)
        alive = 0
        for entry in users.glob("*"):
            if entry.name.isdigit() and Path(f"/proc/{entry.name}").exists():
                alive += 1
            else:
                entry.unlink(missing_ok=True)  # a session that died without unregistering
        return alive
