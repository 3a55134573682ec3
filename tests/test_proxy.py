"""The reverse proxy in front of `ews web` (deploy/nginx/nginx.conf, docker-compose.yml's `proxy`).

The committed configuration itself is checked and run, with Debian's nginx: `render` replaces only the
container's addresses, ports and file locations with loopback ports and temporary folders. In front of a real
`ews web` (gunicorn) it must keep `/api/v1/health` answering within a second while 40 connections trickle
request bodies at one byte per second (the slow-body probe), which without it leaves gunicorn no thread to
answer with. The app trusts the X-Forwarded-* headers from exactly one proxy (ews_cases/http/proxies.py).
"""

from __future__ import annotations

import getpass
import json
import math
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from ews_cases.app import create_app
from ews_cases.http.headers import HEADERS as SECURITY_HEADERS
from ews_cases.settings import Settings
from testkit.processes import ROOT, free_port, web_process
from tests.conftest import OwnContextClient
from tests.web.helpers import csrf_token

CONFIG = ROOT / "deploy" / "nginx" / "nginx.conf"
STATIC = ROOT / "ews_cases" / "static"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

SLOW_CONNECTIONS = 40
#: How long the health endpoint is sampled while the slow bodies trickle, and the longest answer allowed.
PROBE_SECONDS = 10.0
HEALTH_LIMIT = 1.0
SELF_SIGNED = (
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost"
    " -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
)


# --- the committed configuration, rendered for loopback ------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away certificate for 127.0.0.1 and localhost, as fullchain.pem and privkey.pem."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [*SELF_SIGNED.split(), "-keyout", str(folder / "privkey.pem"), "-out", str(folder / "fullchain.pem")],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return folder


def render(folder: Path, tls: Path, *, upstream: str, http_port: int, https_port: int) -> Path:
    """The committed configuration with loopback ports, `upstream` (host:port) for `web:8000`, and files in
    `folder`; fails when one of the replaced parts is no longer in the file (then update this list)."""
    replacements = {
        "user www-data;": f"user {getpass.getuser()};",
        "pid /run/nginx.pid;": f"pid {folder}/nginx.pid;",
        "/var/lib/nginx/": f"{folder}/temp/",
        "/etc/nginx/tls/": f"{tls}/",
        "/srv/ews/static/": f"{STATIC}/",
        "listen 80 default_server;": f"listen 127.0.0.1:{http_port} default_server;",
        "listen 443 ssl http2 default_server;": f"listen 127.0.0.1:{https_port} ssl http2 default_server;",
        '"http://web:8000"': f'"http://{upstream}"',
    }
    text = CONFIG.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in {CONFIG.relative_to(ROOT)}: update render()"
        text = text.replace(old, new)
    (folder / "temp").mkdir(exist_ok=True)
    rendered = folder / "nginx.conf"
    rendered.write_text(text, encoding="utf-8")
    return rendered


def nginx_check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NGINX, "-t", "-c", str(config), "-p", f"{config.parent}/"],
        capture_output=True,
        text=True,
        timeout=30,
    )


class Proxy:
    """A running nginx with the rendered configuration: its HTTPS and HTTP base URLs and the certificate."""

    def __init__(self, https: str, http: str, certificate: Path) -> None:
        self.https = https
        self.http = http
        self.certificate = certificate

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return requests.get(f"{self.https}{path}", verify=str(self.certificate), **kwargs)


@contextmanager
def running_nginx(folder: Path, tls: Path, upstream: str) -> Iterator[Proxy]:
    http_port, https_port = free_port(), free_port()
    config = render(folder, tls, upstream=upstream, http_port=http_port, https_port=https_port)
    log_path = folder / "nginx.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [NGINX, "-c", str(config), "-p", f"{folder}/", "-g", "daemon off;"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 15
            while not all(_listening(port) for port in (http_port, https_port)):
                assert process.poll() is None, log_path.read_text(errors="replace")
                assert time.monotonic() < deadline, log_path.read_text(errors="replace")
                time.sleep(0.05)
            yield Proxy(
                f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", tls / "fullchain.pem"
            )
        finally:
            process.send_signal(signal.SIGTERM)  # fast shutdown: master and workers
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def web(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ews web` as compose runs it behind the proxy (one trusted proxy), with as few threads as it gets: one
    worker with two. (With several workers, which one accepts a connection is up to the kernel: the probe's
    connections may all land on one, leaving the other free, and the control below would prove nothing.)"""
    log = tmp_path_factory.mktemp("web") / "web.log"
    env = {"EWS_REDIS_URL": "", "EWS_TRUSTED_PROXIES": "1"}
    with web_process(settings, log, env=env, workers=1, threads=2) as base:
        yield base


@pytest.fixture(scope="module")
def proxy(web: str, tls: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with running_nginx(tmp_path_factory.mktemp("nginx"), tls, web.removeprefix("http://")) as running:
        yield running


# --- the configuration ---------------------------------------------------------------------------------


def _directives(name: str) -> list[str]:
    """The arguments of every `name …;` directive in the committed configuration (comments dropped)."""
    text = re.sub(r"#[^\n]*", "", CONFIG.read_text(encoding="utf-8"))
    return [m.group(1).strip() for m in re.finditer(rf"(?m)^\s*{re.escape(name)}\s+([^;]*);", text)]


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", size).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]


def test_nginx_accepts_the_committed_configuration(tmp_path, tls):
    config = render(tmp_path, tls, upstream="127.0.0.1:8000", http_port=free_port(), https_port=free_port())
    result = nginx_check(config)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_check_refuses_a_broken_configuration(tmp_path, tls):
    """The check above can fail: the same file with one directive misspelt is refused."""
    config = render(tmp_path, tls, upstream="127.0.0.1:8000", http_port=free_port(), https_port=free_port())
    config.write_text(config.read_text().replace("proxy_request_buffering on;", "proxy_request_bufering on;"))
    result = nginx_check(config)
    assert result.returncode != 0
    assert "proxy_request_bufering" in result.stderr


def test_the_limits_match_the_app():
    # Bodies: the app's own limit (EWS_MAX_BODY_BYTES's default), so nginx answers 413 where the app would.
    assert [_bytes(size) for size in _directives("client_max_body_size")] == [Settings().max_body_bytes]
    # Header lines up to 8 KiB, as gunicorn's own limit on a header field (8190 bytes).
    assert _directives("large_client_header_buffers") == ["4 8k"]
    assert _directives("proxy_request_buffering") == ["on"]
    assert _directives("proxy_buffering") == ["on"]
    for timeout in ("client_header_timeout", "client_body_timeout", "proxy_connect_timeout"):
        (value,) = _directives(timeout)
        assert 1 <= int(value.removesuffix("s")) <= 10, timeout


def test_the_forwarded_headers_are_set_not_passed_on():
    headers = dict(value.split(None, 1) for value in _directives("proxy_set_header"))
    assert headers["X-Forwarded-For"] == "$remote_addr"  # one entry: EWS_TRUSTED_PROXIES=1
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["X-Forwarded-Host"] == "$host"
    assert headers["X-Request-ID"] == "$request_id"


def test_the_access_log_holds_no_address_and_no_path():
    """As the app's own log (docs/operations.md): no client address, no path (links carry secrets)."""
    (log_format,) = _directives("log_format")
    for variable in ("$remote_addr", "$request ", "$request_uri", "$uri", "$args", "$http_referer"):
        assert variable not in log_format + " ", variable
    assert "$request_id" in log_format


# --- in front of `ews web` ------------------------------------------------------------------------------


class SlowBodies:
    """`count` connections that each send a POST's head announcing a body larger than they ever send, then
    trickle that body one byte per second (each connection, every second) until stopped."""

    def __init__(self, connect: Callable[[], socket.socket], count: int = SLOW_CONNECTIONS) -> None:
        self.connect = connect
        self.count = count
        self.sockets: list[socket.socket] = []
        self.bytes_sent = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)

    def __enter__(self) -> SlowBodies:
        head = (
            b"POST /anmelden HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
        )
        try:
            for _ in range(self.count):
                connection = self.connect()
                connection.sendall(head)
                self.sockets.append(connection)
        except BaseException:
            self.__exit__()
            raise
        self._thread.start()
        return self

    def _trickle(self) -> None:
        while not self._stop.wait(1.0):
            for number, connection in enumerate(self.sockets):
                try:
                    connection.sendall(b"a")
                    self.bytes_sent += 1
                except OSError as error:
                    self.failures.append(f"connection {number}: {error!r}")

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for connection in self.sockets:
            connection.close()


def health_latencies(get: Callable[[], requests.Response], seconds: float) -> list[float]:
    """Ask for the health every ~0.5 s for `seconds`; the time of each answer (inf: none within the limit,
    or not 200)."""
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            ok = get().status_code == 200
        except requests.RequestException:
            ok = False
        latencies.append(time.monotonic() - started if ok else math.inf)
        time.sleep(0.5)
    return latencies


def _tls_connection(proxy: Proxy) -> Callable[[], socket.socket]:
    context = ssl.create_default_context(cafile=str(proxy.certificate))
    port = int(proxy.https.rsplit(":", 1)[1])

    def connect() -> socket.socket:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        return context.wrap_socket(raw, server_hostname="127.0.0.1")

    return connect


def test_slow_bodies_through_the_proxy_leave_health_fast(proxy, web):
    """Must hold 2: 40 connections trickling a body at one byte per second; health answers within 1 s."""
    with SlowBodies(_tls_connection(proxy)) as slow:
        time.sleep(1.5)  # every connection has started its body
        latencies = health_latencies(
            lambda: proxy.get("/api/v1/health", timeout=(HEALTH_LIMIT, HEALTH_LIMIT)), PROBE_SECONDS
        )
        assert slow.failures == []  # nginx kept every slow connection open: the probe held throughout
        trickled = slow.bytes_sent
    print(f"\nhealth through the proxy under {SLOW_CONNECTIONS} slow bodies: {_figures(latencies)}")
    assert len(latencies) >= 10
    assert max(latencies) < HEALTH_LIMIT, latencies
    assert trickled >= SLOW_CONNECTIONS * (PROBE_SECONDS - 1)


def test_without_the_proxy_the_same_probe_starves_gunicorn(web):
    """The control: sent straight to gunicorn, the probe takes every thread (the two of the one worker)."""
    port = int(web.rsplit(":", 1)[1])
    with SlowBodies(lambda: socket.create_connection(("127.0.0.1", port), timeout=5)):
        time.sleep(1.5)
        latencies = health_latencies(
            lambda: requests.get(f"{web}/api/v1/health", timeout=(HEALTH_LIMIT, HEALTH_LIMIT)), 3.0
        )
    print(f"\nhealth straight from gunicorn under {SLOW_CONNECTIONS} slow bodies: {_figures(latencies)}")
    assert all(latency >= HEALTH_LIMIT for latency in latencies), latencies
    # Closed again, the connections free the threads.
    assert requests.get(f"{web}/api/v1/health", timeout=10).status_code == 200


def _figures(latencies: list[float]) -> str:
    answered = sorted(x for x in latencies if x != math.inf)
    timed_out = len(latencies) - len(answered)
    if not answered:
        return f"{len(latencies)} samples, all without an answer within {HEALTH_LIMIT} s"
    return (
        f"{len(latencies)} samples, max {answered[-1] * 1000:.0f} ms, median "
        f"{answered[len(answered) // 2] * 1000:.0f} ms, {timed_out} without an answer within {HEALTH_LIMIT} s"
    )


def test_the_proxy_serves_the_static_files_itself(proxy):
    answer = proxy.get("/static/ews.css")
    assert answer.status_code == 200
    assert answer.content == (STATIC / "ews.css").read_bytes()
    assert answer.headers["Content-Type"].startswith("text/css")
    assert answer.headers["Cache-Control"] == "no-cache"
    assert "X-Request-ID" not in answer.headers  # every answer of the app has one: this came from nginx
    for name, value in SECURITY_HEADERS.items():  # the same security headers as the app's own answers
        assert answer.headers[name] == value, name


def test_the_proxy_hides_the_metrics(proxy, web):
    assert requests.get(f"{web}/metrics", timeout=10).status_code == 200  # the app serves them inside
    for path in ("/metrics", "/metrics/", "//metrics", "/%6Detrics", "/metrics?format=json"):
        answer = proxy.get(path)
        assert answer.status_code == 404, path
        assert "ews_http_requests_total" not in answer.text
        assert "X-Request-ID" not in answer.headers, path


def test_the_proxy_refuses_oversized_bodies_and_headers_itself(proxy):
    limit = Settings().max_body_bytes
    # One byte over the app's limit: nginx answers from the announced length, before any body arrives.
    connection = _tls_connection(proxy)()
    with connection:
        connection.sendall(
            f"POST /api/v1/cases HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {limit + 1}\r\n\r\n".encode()
        )
        head = connection.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 413 "), head
    assert "x-request-id" not in head.lower()
    # At the limit the body reaches the app (which answers it: it needs a token).
    at_limit = requests.post(
        f"{proxy.https}/api/v1/cases",
        data=b"{" + b" " * (limit - 2) + b"}",
        headers={"Content-Type": "application/json"},
        verify=str(proxy.certificate),
        timeout=10,
    )
    assert at_limit.status_code == 401
    assert "X-Request-ID" in at_limit.headers
    long_header = proxy.get("/api/v1/health", headers={"X-Padding": "x" * 9000})
    assert long_header.status_code == 400
    assert "X-Request-ID" not in long_header.headers
    assert proxy.get("/api/v1/health", headers={"X-Padding": "x" * 7000}).status_code == 200
    assert proxy.get("/api/v1/health?" + "q" * 9000).status_code == 414


def test_plain_http_is_redirected_to_https(proxy):
    answer = requests.get(f"{proxy.http}/faelle?seite=2", allow_redirects=False, timeout=10)
    assert answer.status_code == 301
    assert answer.headers["Location"] == "https://127.0.0.1/faelle?seite=2"


def test_the_app_keeps_the_proxys_request_id(proxy):
    answer = proxy.get("/api/v1/health", headers={"X-Request-ID": "forged-by-the-client"})
    assert answer.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-ID"])


# --- what the proxy tells the app, and what the app believes --------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]]

    def do_GET(self) -> None:
        type(self).seen.append({"path": self.path, **dict(self.headers.items())})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def recorded(tls, tmp_path) -> Iterator[tuple[Proxy, list[dict[str, str]]]]:
    """The rendered configuration in front of a server that records the headers it receives."""
    seen: list[dict[str, str]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with running_nginx(tmp_path, tls, f"127.0.0.1:{server.server_port}") as running:
            yield running, seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_proxy_replaces_the_clients_forwarded_headers(recorded):
    proxy, seen = recorded
    answer = proxy.get(
        "/faelle?seite=2",
        headers={
            "Host": "ews.example.org",
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Host": "evil.example",
        },
    )
    assert answer.status_code == 200
    (request,) = seen
    assert request["path"] == "/faelle?seite=2"
    assert request["X-Forwarded-For"] == "127.0.0.1"  # the address nginx saw, the client's claim dropped
    assert request["X-Forwarded-Proto"] == "https"
    assert request["X-Forwarded-Host"] == "ews.example.org"
    assert request["Host"] == "ews.example.org"


def _proxied_app(settings: Settings, hops: int, **limits: int):
    app = create_app(settings.model_copy(update={"trusted_proxies": hops, **limits}))
    app.test_client_class = OwnContextClient
    return app


def test_the_app_takes_address_scheme_and_host_from_one_trusted_proxy(settings, db):
    from flask import request

    forwarded = {
        "X-Forwarded-For": "6.6.6.6, 203.0.113.9",  # the left entry is the client's own claim
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "ews.example.org",
    }
    seen = {}
    for hops in (0, 1):
        app = _proxied_app(settings, hops)

        @app.get("/_seen")
        def _seen() -> dict[str, Any]:
            return {"address": request.remote_addr, "scheme": request.scheme, "host": request.host}

        answer = app.test_client().get(
            "/_seen", headers=forwarded, environ_base={"REMOTE_ADDR": "172.18.0.5"}
        )
        seen[hops] = json.loads(answer.get_data())
    assert seen[0] == {"address": "172.18.0.5", "scheme": "http", "host": "localhost"}
    assert seen[1] == {"address": "203.0.113.9", "scheme": "https", "host": "ews.example.org"}


def test_behind_the_proxy_the_login_limit_counts_each_visitor(settings, db):
    """Compose's setting (one trusted proxy): visitors behind the same proxy address are counted apart, and a
    forged X-Forwarded-For entry does not escape the count."""
    client = _proxied_app(settings, 1, login_max_failures_per_address=3).test_client()

    def attempt(visitor: str, forged: str) -> int:
        environ = {"REMOTE_ADDR": "172.18.0.5"}  # the proxy's address on the compose network
        headers = {"X-Forwarded-For": f"{forged}, {visitor}"}
        token = csrf_token(client.get("/anmelden", environ_base=environ, headers=headers))
        email = f"unbekannt-{forged}@example.org"  # a new account each time: only the address counts
        data = {"email": email, "password": "falsch-geraten", "csrf_token": token}
        return client.post("/anmelden", data=data, environ_base=environ, headers=headers).status_code

    assert [attempt("203.0.113.9", f"6.6.6.{n}") for n in range(4)] == [401, 401, 401, 429]
    assert attempt("198.51.100.7", "6.6.6.9") == 401
