"""`ews run` on a fresh machine: no database, Redis or SMTP server configured. It starts web, worker and beat
on the embedded defaults, answers health checks, delivers a demo reminder into its local mail folder, and
stops cleanly — every child with it — on SIGINT (Ctrl-C) or SIGTERM; killed with SIGKILL, it leaves no
process behind either, and the next `ews run` starts normally."""

from __future__ import annotations

import contextlib
import email
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from email import policy
from pathlib import Path

import psutil
import pytest

from testkit.processes import free_port

pytestmark = [pytest.mark.slow, pytest.mark.sqlite]  # the embedded default is SQLite, whatever the pass


class FreshMachine:
    """An empty folder as working directory and an environment without any `EWS_*` configuration."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data_dir = folder / "var"  # also the marker that finds every process started for it
        self.port = free_port()
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("EWS_")}
        self.env.update(
            {
                "EWS_DATA_DIR": str(self.data_dir),
                "EWS_PORT": str(self.port),
                "EWS_SMTP_PORT": str(free_port()),
                "EWS_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.log = folder / "run.log"
        self.run: subprocess.Popen[bytes] | None = None

    def ews(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "ews_cases.cli", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        ).stdout

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.run = subprocess.Popen(
                [sys.executable, "-m", "ews_cases.cli", "run"],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def health(self, request_id: str | None = None) -> dict:
        """`GET /api/v1/health` once the web server answers (fails if `ews run` gave up)."""
        deadline = time.monotonic() + 60
        url = f"http://127.0.0.1:{self.port}/api/v1/health"
        while True:
            assert self.run is not None
            assert self.run.poll() is None, self.log.read_text(errors="replace")
            try:
                request = urllib.request.Request(
                    url, headers={"X-Request-ID": request_id} if request_id else {}
                )
                with urllib.request.urlopen(request, timeout=2) as r:
                    return {"http": r.status, **json.load(r)}
            except OSError:
                assert time.monotonic() < deadline, self.log.read_text(errors="replace")
                time.sleep(0.3)

    def processes(self) -> list[psutil.Process]:
        """Every live process started for this machine: `ews run` and its children (by their environment)
        and the embedded Redis (a daemon that overwrites its environment, found by its working folder)."""
        marker, found = str(self.data_dir), []
        for process in psutil.process_iter():
            try:
                if process.status() != psutil.STATUS_ZOMBIE and marker in (
                    process.environ().get("EWS_DATA_DIR"),
                    process.cwd(),
                ):
                    found.append(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return found

    def wait_for_log(self, marker: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while marker not in (text := self.log.read_text(errors="replace")):
            assert self.run is not None
            assert self.run.poll() is None, text
            assert time.monotonic() < deadline, f"no {marker!r} after {timeout}s:\n{text}"
            time.sleep(0.2)

    def port_open(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self, signum: int) -> tuple[int, float]:
        """Send `signum` to `ews run` alone (as Ctrl-C or a service manager would); exit code and time."""
        assert self.run is not None
        started = time.monotonic()
        self.run.send_signal(signum)
        code = self.run.wait(timeout=25)
        return code, time.monotonic() - started

    def clean_up(self) -> None:
        """After a failure: stop `ews run` as a user would, then kill whatever it left behind."""
        if self.run is not None and self.run.poll() is None:
            self.run.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.run.wait(timeout=25)
        for process in self.processes():
            process.kill()


@pytest.fixture
def machine(tmp_path: Path):
    fresh = FreshMachine(tmp_path)
    yield fresh
    fresh.clean_up()


def reminders_in(folder: Path) -> list[email.message.EmailMessage]:
    messages = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in folder.glob("*.eml")]
    # A long subject is folded right after "Subject:", so the unfolded value starts with a space.
    return [m for m in messages if str(m["Subject"]).strip().startswith("Die Bewerbungsfrist für")]


def assert_stops_cleanly(machine: FreshMachine, signum: int) -> None:
    children = machine.processes()
    assert len(children) >= 5  # ews run, web (+ its workers), worker (+ its pool), beat, embedded Redis
    assert any("redis-server" in " ".join(p.cmdline()) for p in children)
    code, seconds = machine.stop(signum)
    print(
        f"\n{signal.Signals(signum).name}: exit code {code} after {seconds:.1f}s ({len(children)} processes)"
    )
    assert code == 0, machine.log.read_text(errors="replace")
    deadline = time.monotonic() + 5
    while machine.processes():
        assert time.monotonic() < deadline, f"left behind: {[command_line(p) for p in machine.processes()]}"
        time.sleep(0.2)
    assert "EWS Cases beendet." in machine.log.read_text(errors="replace")


def test_ews_run_on_a_fresh_machine_delivers_a_demo_reminder_and_stops_on_sigint(machine):
    machine.ews("db", "upgrade")
    machine.ews("demo")
    machine.start()
    assert machine.health() == {"http": 200, "status": "ok", "database": "ok", "broker": "ok"}

    scan = machine.ews("reminders", "run", "--now", "2027-06-23T09:00:00+02:00")
    assert "Durchgang 6: 1" in scan
    # The CLI has no broker of its own: beat's deliver-outbox run (every 15 s) sends the reminder.
    deadline = time.monotonic() + 45
    while not (found := reminders_in(machine.data_dir / "mail")):
        assert time.monotonic() < deadline, machine.log.read_text(errors="replace")
        time.sleep(0.5)
    (reminder,) = found
    assert reminder["To"] == "attendorn@example.org"
    link = str(reminder["List-Unsubscribe"]).strip().removeprefix("<").removesuffix(">")
    assert link.startswith(f"http://127.0.0.1:{machine.port}/unsubscribe/")
    with urllib.request.urlopen(link, timeout=5) as page:  # the link works
        assert page.status == 200

    assert_stops_cleanly(machine, signal.SIGINT)


def test_ews_run_stops_cleanly_on_sigterm(machine):
    machine.ews("db", "upgrade")
    machine.start()
    assert machine.health()["broker"] == "ok"
    assert_stops_cleanly(machine, signal.SIGTERM)


def command_line(process: psutil.Process) -> str:
    """What a process runs, or that it ended meanwhile (it may become a zombie between two looks)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return f"<pid {process.pid} ended>"


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    left = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                left.append(process)
        except psutil.NoSuchProcess:
            pass
    return left


def test_ews_run_killed_with_sigkill_leaves_no_process_and_starts_again(machine):
    machine.ews("db", "upgrade")
    machine.start()
    assert machine.health()["broker"] == "ok"
    machine.wait_for_log("beat: Starting...")
    machine.wait_for_log(" ready.")  # the worker, with its pool processes

    # One line per request, and none of the libraries' routine lines (Alembic's on every schema check).
    machine.health(request_id="one-request-one-line")
    time.sleep(0.5)
    log = machine.log.read_text(errors="replace")
    assert log.count("one-request-one-line") == 1, log
    assert "alembic" not in log, log

    assert machine.run is not None
    tree = [psutil.Process(machine.run.pid), *psutil.Process(machine.run.pid).children(recursive=True)]
    found = machine.processes()
    assert {p.pid for p in found} <= {p.pid for p in tree}  # nothing of it outside its process tree
    assert len(tree) >= 8  # ews run, web + 2 workers, worker + 2 pool processes, beat, embedded Redis
    assert any("redis-server" in " ".join(p.cmdline()) for p in tree)

    started = time.monotonic()
    machine.run.kill()
    machine.run.wait()
    while alive(tree) or machine.processes() or machine.port_open():
        left = [command_line(p) for p in alive(tree)]
        assert time.monotonic() - started < 5, (
            f"left behind after 5 s: {left}, port open: {machine.port_open()}"
        )
        time.sleep(0.1)
    print(f"\nSIGKILL: no process of {len(tree)} left after {time.monotonic() - started:.2f}s")

    # The next start finds the port, the queue and the beat lock free.
    machine.start()
    assert machine.health() == {"http": 200, "status": "ok", "database": "ok", "broker": "ok"}
    machine.wait_for_log("beat: Starting...")
    machine.wait_for_log(" ready.")  # the worker
    log = machine.log.read_text(errors="replace")
    assert "läuft bereits" not in log, log
    assert "Address already in use" not in log, log
    assert_stops_cleanly(machine, signal.SIGTERM)
