"""Start and stop the real services a fault test breaks: a private redis-server and Celery worker
processes, on loopback only. Every test stops what it started."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from django.db import connection

from tests.conftest import ROOT, _test_database_url

LOG_DIR = ROOT / ".pytest_cache"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def redis_cli(port: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=10,
    )


class PrivateRedis:
    """A redis-server of our own on 127.0.0.1:<port>, no persistence."""

    def __init__(self, port: int):
        if not shutil.which("redis-server"):
            pytest.fail("redis-server is not installed")
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        if _port_open(self.port):
            pytest.fail(f"port {self.port} is already in use")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while redis_cli(self.port, "ping").stdout.strip() != "PONG":
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def shutdown_nosave(self) -> None:
        """What an outage looks like: the server goes away and its queue with it."""
        redis_cli(self.port, "shutdown", "nosave")
        if self.process is not None:
            self.process.wait(timeout=10)
            self.process = None
        assert not _port_open(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@contextmanager
def private_redis(port: int):
    server = PrivateRedis(port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Worker:
    """A ``celery worker`` process (solo pool: the task runs in the process we may kill)."""

    def __init__(self, *, name: str, broker_url: str, queues: str = "celery", **env: str):
        self.name = name
        self.log_path = LOG_DIR / f"fault-worker-{name}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "REDIS_URL": broker_url,
            "TRIAGE_TESTING": "1",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.queues = queues
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "triage",
                "worker",
                "--pool=solo",
                "--loglevel=info",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-Q",
                self.queues,
                "-n",
                f"fault-{self.name}-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "ready." not in self.log():
            if self.process.poll() is not None:
                pytest.fail(f"worker {self.name} exited: {self.log()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"worker {self.name} not ready in {timeout} s: {self.log()[-2000:]}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement, no goodbye to the broker."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def workers(*items: Worker):
    try:
        for item in items:
            item.start()
        yield items
    finally:
        for item in items:
            item.stop()


def wait_for(condition, *, timeout: float, message: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(interval)
        connection.close()  # a fresh snapshot on the next poll
