"""`gateway demo` as a person runs it: it prints both addresses, serves both, and Ctrl-C stops both."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.browser.conftest import wait_until
from tests.support.gateways import gateway_env
from tests.support.services import free_port


def test_demo_prints_both_urls_and_ctrl_c_stops_both(tmp_path: Path) -> None:
    port, host_port = free_port(), free_port()
    env = {k: v for k, v in gateway_env(None).items() if k != "GATEWAY_ADMIN_TOKEN"}
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "demo", "--port", str(port), "--host-port", str(host_port)],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        gateway, host = f"http://127.0.0.1:{port}", f"http://localhost:{host_port}"

        def both_answer() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return (
                    httpx.get(f"{gateway}/healthz", timeout=1).status_code == 200
                    and httpx.get(f"http://127.0.0.1:{host_port}/", timeout=1).status_code == 200
                )
            except httpx.TransportError:
                return False

        wait_until(both_answer, timeout=60, message="both servers answer")
        printed = log.read_text()
        assert f"gateway:   {gateway}" in printed and f"host site: {host}/" in printed
        assert "admin token is:" in printed  # none was configured: this run's is shown once
        assert "client_secret" not in printed  # the host site's app secrets stay in the process
        host_page = httpx.get(f"http://127.0.0.1:{host_port}/", timeout=5).text
        assert gateway in host_page and "client_secret" not in host_page
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    for url in (f"{gateway}/healthz", f"http://127.0.0.1:{host_port}/"):
        try:
            httpx.get(url, timeout=1)
        except httpx.TransportError:
            continue
        raise AssertionError(f"{url} still answers after Ctrl-C")
