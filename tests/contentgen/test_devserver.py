from __future__ import annotations

import contextlib
import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import time

import pytest

from tests.stack import ROOT, child_env, free_port

pytestmark = pytest.mark.django_db


def test_a_taken_port_is_one_line(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "contentgen.devserver"],
            cwd=ROOT, env=child_env(PORT=str(port)), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert out.returncode == 1
    assert out.stdout.strip().splitlines() == [
        f"contentgen: port {port} is already in use (another `make run`?); "
        "stop it or choose another port: `make run PORT=8001`."
    ]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_ctrl_c_on_make_run_exits_0_and_says_where_the_logs_are(tmp_path):
    """In a real terminal: Ctrl-C goes to the foreground process group, make included."""
    makefile = tmp_path / "Makefile"
    makefile.write_text(f"run:\n\tcd {ROOT} && {sys.executable} -m contentgen.devserver\n")
    env = child_env(PORT=str(free_port()), CONTENTGEN_VAR_DIR=str(tmp_path / "var"))
    pid, fd = pty.fork()
    if pid == 0:  # the child: make in the terminal
        os.chdir(tmp_path)
        os.execvpe("make", ["make", "run"], env)
    output = b""
    deadline = time.monotonic() + 90
    while b"is running" not in output:
        assert time.monotonic() < deadline, output.decode(errors="replace")
        if select.select([fd], [], [], 0.5)[0]:
            output += os.read(fd, 65536)
    os.write(fd, b"\x03")
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        assert time.monotonic() < deadline, output.decode(errors="replace")
        if select.select([fd], [], [], 0.2)[0]:
            with contextlib.suppress(OSError):  # the terminal closes when make exits
                output += os.read(fd, 65536)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "Stopping contentgen" in text and "make: ***" not in text
    assert "web.log" in text and "worker.log" in text
