"""`make run`: embedded MongoDB and Redis, migrations, demo user, uvicorn and a worker. Ctrl-C stops all.

Ctrl-C reaches this process alone: it takes the terminal's foreground in a process group of its own
and starts every server in another group. So make never sees the interrupt (it would report the
requested stop as an error), and the servers stop in order, web and worker first, then Redis and
MongoDB, instead of all at once with the worker still writing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from contentgen import embedded

LOG_DIR = embedded.VAR_DIR / "log"


def _run(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], env=env, check=True, cwd=embedded.BASE_DIR, process_group=0
    )


def _foreground() -> Callable[[], None]:
    """Move into a new process group that owns the terminal; returns the function that gives it back."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        return lambda: None
    try:
        previous = os.tcgetpgrp(tty)
        if previous != os.getpgrp():
            raise OSError("not in the terminal's foreground")
        os.setpgid(0, 0)
        # Changing the foreground group from what is now a background group would stop us with SIGTTOU.
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        os.tcsetpgrp(tty, os.getpgrp())
    except OSError:
        os.close(tty)
        return lambda: None

    def restore() -> None:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(tty, previous)
        os.close(tty)

    return restore


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            env=env,
            cwd=embedded.BASE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
            preexec_fn=embedded.die_with_parent,
        )


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _shown(path: Path) -> str:
    return str(path.relative_to(embedded.BASE_DIR)) if path.is_relative_to(embedded.BASE_DIR) else str(path)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    try:
        embedded.stop_processes(children, timeout=40)
    except KeyboardInterrupt:
        print("Stopping now, without waiting for running jobs to be handed back.", flush=True)
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=5)


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DJANGO_DEBUG", "1")
    port = env.get("PORT", "8000")
    if embedded._port_open(int(port)):
        print(
            f"contentgen: port {port} is already in use (another `make run`?); "
            "stop it or choose another port: `make run PORT=8001`.",
            flush=True,
        )
        return 1
    restore_terminal = _foreground()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    web_log, worker_log = LOG_DIR / "web.log", LOG_DIR / "worker.log"
    services = None
    children: list[subprocess.Popen[bytes]] = []

    def stop(signum: int = 0, frame: FrameType | None = None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        if not (env.get("MONGODB_URI") and env.get("REDIS_URL")):
            services = embedded.start(quiet=False)
            embedded.save_state(services)
            env.setdefault("MONGODB_URI", services.mongodb_uri)
            env.setdefault("REDIS_URL", services.redis_url)
        _run(["migrate", "--noinput", "-v", "0"], env)
        if env.get("DJANGO_DEBUG") != "1":
            _run(["collectstatic", "--noinput", "-v", "0"], env)
        _run(["ensure_demo_user"], env)
        children.append(_start(embedded.uvicorn_command(port), env, web_log))
        children.append(_start([sys.executable, "manage.py", "run_worker"], env, worker_log))
        deadline = time.monotonic() + 60
        while not embedded._port_open(int(port)):
            if children[0].poll() is not None or time.monotonic() > deadline:
                print(
                    f"contentgen: uvicorn did not start on port {port}. {web_log}:\n{_tail(web_log)}",
                    flush=True,
                )
                return 1
            time.sleep(0.1)
        # The running line last: a terminal that reads up to it has the whole message (a Ctrl-C right
        # after it discards whatever output the terminal had not shown yet).
        print(
            f"\nLogs, one JSON object a line: {_shown(web_log)} (web), {_shown(worker_log)} (worker); "
            f"MongoDB and Redis beside them. Follow them all: tail -f {_shown(LOG_DIR)}/*.log\n"
            f"contentgen is running: http://127.0.0.1:{port}/   (Ctrl-C stops everything)\n",
            flush=True,
        )
        while True:
            for child, log in zip(children, (web_log, worker_log), strict=True):
                if child.poll() is not None:
                    print(
                        f"contentgen: {log.stem} exited with {child.returncode}. {log}:\n{_tail(log)}",
                        flush=True,
                    )
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping contentgen...", flush=True)
        return 0
    except subprocess.CalledProcessError as exc:
        print(
            f"contentgen: `{' '.join(map(str, exc.cmd[1:]))}` failed with exit code {exc.returncode}",
            flush=True,
        )
        return 1
    finally:
        # A second Ctrl-C while stopping only shortens the wait (see _stop); nothing may interrupt the rest.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _stop(children)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if services is not None:
            embedded.clear_state()
            services.stop()
        restore_terminal()


if __name__ == "__main__":
    sys.exit(main())
