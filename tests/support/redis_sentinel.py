"""A Redis high-availability set as a shop runs one: a master, two replicas and three
Sentinels watching them (quorum two).

Real processes (``redis-server`` and ``redis-sentinel``, installed by ``make test``:
tests/system-packages), so the portal's ``redis+sentinel://`` URL is tested against the
real discovery and a real failover (``SENTINEL FAILOVER``: a replica is promoted, the
other follows it at once, and the old master becomes a replica once the Sentinels get
round to it, seconds later).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from portal.devstack.serving import free_port
from tests.support.redis_server import RedisProcess

SERVICE = "portal-cache"
SENTINELS = 3


class SentinelSet:
    """Three redis-servers (one master to start with) and three Sentinels."""

    def __init__(self, workdir: Path) -> None:
        first = RedisProcess(workdir / "a", appendonly=True)
        self.servers = [first] + [
            RedisProcess(workdir / name, appendonly=True, replica_of=first.port)
            for name in ("b", "c")
        ]
        self.sentinel_ports = [free_port() for _ in range(SENTINELS)]
        # Listed first and never started: the portal must move on to the next Sentinel.
        self.dead_sentinel_port = free_port()
        self._configs = []
        for n, port in enumerate(self.sentinel_ports):
            folder = workdir / f"sentinel-{n}"
            folder.mkdir(parents=True, exist_ok=True)
            config = folder / "sentinel.conf"  # each Sentinel rewrites its own file
            config.write_text(
                f"port {port}\n"
                "bind 127.0.0.1\n"
                f"dir {folder}\n"
                f"logfile {folder / 'sentinel.log'}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {first.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 2000\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
            )
            self._configs.append(config)
        self._sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """``PORTAL_CACHE_URL`` for this set."""
        ports = [self.dead_sentinel_port, *self.sentinel_ports]
        return f"redis+sentinel://{','.join(f'127.0.0.1:{p}' for p in ports)}/{SERVICE}/0"

    def sentinel(self, n: int = 0) -> redis.Redis:
        return redis.Redis(port=self.sentinel_ports[n], socket_timeout=2, decode_responses=True)

    def master_port(self, n: int = 0) -> int:
        """The master's port as Sentinel ``n`` names it now."""
        _host, port = self.sentinel(n).execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE
        )
        return int(port)

    def replicas(self) -> list[RedisProcess]:
        """The servers that are not the master now."""
        master = self.master_port()
        return [server for server in self.servers if server.port != master]

    def start(self) -> None:
        for server in self.servers:
            server.start()
        for server in self.servers[1:]:
            until(lambda s=server: _in_sync(s.port), "a replica did not sync")
        binary = shutil.which("redis-sentinel")
        if binary is None:
            raise RuntimeError("redis-sentinel is not installed: apt-get install redis-sentinel")
        for config in self._configs:
            self._sentinels.append(
                subprocess.Popen(
                    [binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        until(self.settled, "the Sentinels did not find the replicas and each other")

    def failover(self) -> int:
        """Promote a replica (as the Sentinels do when the master fails); its port, once
        every Sentinel names it."""
        old = self.master_port()
        # Asked of the last Sentinel: the portal asks the others, which learn it later.
        until(lambda: self._failover_started(SENTINELS - 1), "SENTINEL FAILOVER was refused")
        until(
            lambda: all(self.master_port(n) != old for n in range(SENTINELS)),
            "the Sentinels did not promote the replica",
        )
        new = self.master_port()
        promoted = redis.Redis(port=new, socket_timeout=2, decode_responses=True)
        until(lambda: promoted.info("replication")["role"] == "master", "no new master")
        return new

    def restart_as_replica(self, server: RedisProcess) -> None:
        """Start a stopped server again and point it at today's master."""
        server.start()
        redis.Redis(port=server.port).replicaof("127.0.0.1", self.master_port())
        until(lambda: _in_sync(server.port), "the restarted replica did not sync")

    def replica_is_down(self, server: RedisProcess) -> bool:
        """Whether every Sentinel has marked ``server`` subjectively down."""
        for n in range(SENTINELS):
            entries = self.sentinel(n).sentinel_slaves(SERVICE)
            if not any(e["port"] == server.port and e["is_sdown"] for e in entries):
                return False
        return True

    def stop(self) -> None:
        for process in self._sentinels:
            process.terminate()
        for process in self._sentinels:
            process.wait(timeout=10)
        for server in self.servers:
            server.stop()

    def settled(self) -> bool:
        """Whether every Sentinel knows the other two and sees two replicas replicating."""
        try:
            for n in range(SENTINELS):
                replicas = self.sentinel(n).sentinel_slaves(SERVICE)
                others = self.sentinel(n).sentinel_sentinels(SERVICE)
                healthy = [
                    r
                    for r in replicas
                    if r["role-reported"] == "slave" and not (r["is_sdown"] or r["is_disconnected"])
                ]
                if len(healthy) != len(self.servers) - 1 or len(others) != SENTINELS - 1:
                    return False
        except (redis.ConnectionError, redis.ResponseError):
            return False
        return True

    def _failover_started(self, n: int) -> bool:
        try:
            return bool(self.sentinel(n).execute_command("SENTINEL", "FAILOVER", SERVICE))
        except redis.ResponseError:  # NOGOODSLAVE until the replica's state is fresh
            return False


@contextmanager
def sentinel_set(workdir: Path) -> Iterator[SentinelSet]:
    running = SentinelSet(workdir)
    try:
        running.start()
        yield running
    finally:
        running.stop()


def _in_sync(port: int) -> bool:
    info = redis.Redis(port=port, socket_timeout=2).info("replication")
    return info.get("role") == "slave" and info.get("master_link_status") == "up"


def until(condition: Callable[[], object], failure: str, seconds: float = 20) -> None:
    """Wait for ``condition`` (polled every 0.1 s); ``RuntimeError(failure)`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(failure)
        time.sleep(0.1)
