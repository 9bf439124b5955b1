"""`make run`: embedded MongoDB and Redis, migrations, demo user, uvicorn and a worker. Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from contentgen import embedded


def _run(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], env=env, check=True, cwd=embedded.BASE_DIR)


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DJANGO_DEBUG", "1")
    port = env.get("PORT", "8000")
    services = None
    if not (env.get("MONGODB_URI") and env.get("REDIS_URL")):
        services = embedded.start(quiet=False)
        embedded.save_state(services)
        env.setdefault("MONGODB_URI", services.mongodb_uri)
        env.setdefault("REDIS_URL", services.redis_url)
    children: list[subprocess.Popen[bytes]] = []

    def stop(signum: int = 0, frame: FrameType | None = None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        _run(["migrate", "--noinput", "-v", "0"], env)
        if env.get("DJANGO_DEBUG") != "1":
            _run(["collectstatic", "--noinput", "-v", "0"], env)
        _run(["ensure_demo_user"], env)
        children.append(
            subprocess.Popen(
                embedded.uvicorn_command(port),
                env=env,
                cwd=embedded.BASE_DIR,
                preexec_fn=embedded.die_with_parent,
            )
        )
        children.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "run_worker"],
                env=env,
                cwd=embedded.BASE_DIR,
                preexec_fn=embedded.die_with_parent,
            )
        )
        deadline = time.monotonic() + 60
        while not embedded._port_open(int(port)):
            if children[0].poll() is not None or time.monotonic() > deadline:
                print(f"contentgen: uvicorn did not start on port {port}", flush=True)
                return 1
            time.sleep(0.1)
        print(f"\ncontentgen is running: http://127.0.0.1:{port}/   (Ctrl-C stops everything)\n", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        return 1
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
        embedded.stop_processes(children, timeout=40)
        if services is not None:
            embedded.clear_state()
            services.stop()


if __name__ == "__main__":
    sys.exit(main())
