"""hapulse.monitors.checks without root: lsb/ocf scripts in tmp_path, http and tcp against
loopback servers (https with a certificate made here), a hung script killed with its process
group at the timeout."""

from __future__ import annotations

import asyncio
import http.server
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hapulse.config import ResourceSpec
from hapulse.config.settings import MonitorSettings
from hapulse.lab import wait_for
from hapulse.monitors.checks import (
    BrokenCheck,
    HttpCheck,
    ProgramCheck,
    TcpCheck,
    make_check,
    run_check,
)


def nolog(level: str, text: str) -> None:
    pass


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def monitor(kind: str | None = "lsb", **kw: object) -> MonitorSettings:
    return MonitorSettings("svc", 1.0, 1.0, 3, 60.0, kind=kind, **kw)  # type: ignore[arg-type]


def check_of(tmp_path: Path, m: MonitorSettings, agent: str = "svc") -> object:
    return make_check(m, ResourceSpec(agent, (), agent), tmp_path, nolog,
                      script_dirs=[tmp_path])


@pytest.mark.parametrize(("code", "result", "reason"), [
    (0, "ok", "fine"), (3, "failed", "not running (exit 3: fine)"),
    (1, "failed", "status exited 1: fine")])
def test_lsb_status_exit_codes(tmp_path: Path, code: int, result: str, reason: str) -> None:
    script(tmp_path / "svc", f'[ "$1" = status ] || exit 9\necho fine\nexit {code}\n')
    check = check_of(tmp_path, monitor("lsb"))
    assert isinstance(check, ProgramCheck)
    r = asyncio.run(run_check(check, 5.0))
    assert (r.result, r.reason.replace(str(tmp_path / "svc") + " ", "")) == (result, reason)


def test_kind_omitted_uses_the_agents_check(tmp_path: Path) -> None:
    script(tmp_path / "svc", '[ "$1" = status ] && exit 0\nexit 9\n')
    assert asyncio.run(run_check(check_of(tmp_path, monitor(None)), 5.0)).result == "ok"  # type: ignore[arg-type]


def test_ocf_monitor_with_its_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ocf"
    agent = root / "resource.d" / "test" / "Dummy"
    agent.parent.mkdir(parents=True)
    script(agent, '[ "$1" = monitor ] || exit 3\n'
                  '[ "$OCF_RESKEY_state" = "/x" ] && [ -n "$OCF_ROOT" ] && '
                  '[ "$OCF_RESKEY_CRM_meta_interval" = 1000 ] && exit 0\nexit 7\n')
    monkeypatch.setattr("hapulse.resources.scripts.OCF_ROOT", root)
    spec = ResourceSpec("ocf:test:Dummy", ("state=/x",), "ocf:test:Dummy::state=/x")
    check = make_check(monitor("ocf"), spec, tmp_path, nolog)
    assert asyncio.run(run_check(check, 5.0)).result == "ok"
    spec = ResourceSpec("ocf:test:Dummy", ("state=/y",), "ocf:test:Dummy::state=/y")
    r = asyncio.run(run_check(make_check(monitor(None), spec, tmp_path, nolog), 5.0))
    assert (r.result, r.reason) == ("failed", "not running (exit 7)")


def test_missing_agent_is_a_failed_check(tmp_path: Path) -> None:
    check = check_of(tmp_path, monitor("lsb"), agent="nosuch")
    assert isinstance(check, BrokenCheck)
    r = asyncio.run(run_check(check, 1.0))
    assert r.result == "failed" and "no script" in r.reason


def alive(pid: int) -> bool:
    """Running (a zombie is dead: its orphans are reaped by PID 1, which may be slow)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_hung_check_is_killed_with_its_process_group_at_the_timeout(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script(tmp_path / "svc", f'sleep 1000 &\necho $! >> {pids}\necho $$ >> {pids}\nwait\n')
    check = check_of(tmp_path, monitor("lsb"))
    r = asyncio.run(run_check(check, 0.5))  # type: ignore[arg-type]
    assert r.result == "timeout" and "no answer in 0.5 s" in r.reason
    assert 0.5 <= r.duration < 3.0
    child, shell = (int(w) for w in pids.read_text().split())
    # the script and its child are gone (killed, and the script reaped by the runner)
    wait_for(lambda: not alive(shell) and not alive(child), 5, what="both processes gone")


@pytest.fixture
def web() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/" else 503)
            self.end_headers()
            self.wfile.write(b"f801\n")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_http_expected_status(web: int) -> None:
    r = asyncio.run(run_check(HttpCheck(f"http://127.0.0.1:{web}/"), 2.0))
    assert (r.result, r.reason) == ("ok", "status 200")
    r = asyncio.run(run_check(HttpCheck(f"http://127.0.0.1:{web}/down"), 2.0))
    assert r.result == "failed" and "status 503, expected 200" in r.reason
    r = asyncio.run(run_check(HttpCheck(f"http://127.0.0.1:{web}/down", 503), 2.0))
    assert r.result == "ok"


@pytest.fixture
def tls_web(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An https server on 127.0.0.1 with a self-signed certificate (port, certificate)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], capture_output=True, check=True,
                   timeout=60)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert
    finally:
        server.shutdown()
        server.server_close()


def test_https_is_checked_with_the_system_trust(tls_web: tuple[int, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    port, cert = tls_web
    r = asyncio.run(run_check(HttpCheck(f"https://127.0.0.1:{port}/"), 5.0))
    assert r.result == "failed" and "CERTIFICATE_VERIFY_FAILED" in r.reason, r
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # OpenSSL's default trust: this one
    r = asyncio.run(run_check(HttpCheck(f"https://127.0.0.1:{port}/"), 5.0))
    assert (r.result, r.reason) == ("ok", "status 200")
    r = asyncio.run(run_check(HttpCheck(f"https://127.0.0.1:{port}/down"), 5.0))
    assert r.result == "failed" and "status 503, expected 200" in r.reason


def test_an_https_server_that_never_answers_times_out() -> None:
    with socket.socket() as s:  # accepts (the kernel's backlog), never starts TLS
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        r = asyncio.run(run_check(HttpCheck(f"https://127.0.0.1:{s.getsockname()[1]}/",
                                            timeout=0.3), 0.3))
    assert r.result == "timeout"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_and_tcp_refused_are_failed(web: int) -> None:
    port = closed_port()
    assert asyncio.run(run_check(HttpCheck(f"http://127.0.0.1:{port}/"), 2.0)).result == "failed"
    assert asyncio.run(run_check(TcpCheck("127.0.0.1", port), 2.0)).result == "failed"
    assert asyncio.run(run_check(TcpCheck("127.0.0.1", web), 2.0)).result == "ok"


def test_http_server_that_never_answers_times_out() -> None:
    with socket.socket() as s:  # accepts (the kernel's backlog) and never answers
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        r = asyncio.run(run_check(HttpCheck(f"http://127.0.0.1:{s.getsockname()[1]}/"), 0.3))
    assert r.result == "timeout"


def test_a_hung_check_does_not_block_the_loop(tmp_path: Path) -> None:
    script(tmp_path / "svc", "exec sleep 1000\n")
    check = check_of(tmp_path, monitor("lsb"))

    async def main() -> int:
        ticks = 0
        task = asyncio.ensure_future(run_check(check, 0.5))  # type: ignore[arg-type]
        for _ in range(1000):  # bounded
            if task.done():
                break
            await asyncio.sleep(0.01)
            ticks += 1
        assert (await task).result == "timeout"
        return ticks

    assert asyncio.run(main()) >= 20  # the loop kept turning while the check hung
