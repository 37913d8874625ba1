"""Wall time of a full conformance run (every category, fuzzing included) against the local mock.

    .venv/bin/python bench/conformance_run.py [--workers N]

Starts `ybx-mock serve` on a free port with a throwaway database, runs `ybx-conform run` with the
admin driver, prints the figure. Target (issue 5): at most 60 s on the 2-core machine."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TOKEN = "bench-admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bindir = Path(sys.executable).parent
    mock = subprocess.Popen([str(bindir / "ybx-mock"), "serve", "--port", str(port), "--db", ":memory:",
                             "--admin-token", TOKEN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/_admin", headers={"X-Admin-Token": TOKEN}, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        with tempfile.TemporaryDirectory() as out:
            started = time.monotonic()
            run = subprocess.run(
                [str(bindir / "ybx-conform"), "run", "--target", base, "--user", "demo-ota", "--password", "demo-pass",
                 "--key", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "--pay-password", "123456",
                 "--other-user", "other-ota", "--other-password", "other-pass",
                 "--other-key", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "--driver", "admin",
                 "--admin-url", f"{base}/_admin", "--admin-token", TOKEN, "--report", out,
                 "--workers", str(args.workers)], capture_output=True, text=True, env=os.environ)
            elapsed = time.monotonic() - started
        print(run.stdout.strip().splitlines()[0] if run.stdout.strip() else run.stderr[-500:])
        print(f"full conformance run against the local mock: {elapsed:.1f} s "
              f"({os.cpu_count()} cores, {args.workers} workers); target <= 60 s")
        return 0 if run.returncode in (0, 1) else run.returncode
    finally:
        mock.terminate()
        mock.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
