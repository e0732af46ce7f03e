"""What every SDK test file starts: the release binary's OpenAI simulator (`quota-sentinel
simulate`) and the gateway (`quota-sentinel serve`) in front of it, on free ports of 127.0.0.1,
with a config file of the test's own and a fresh SQLite database; and the small HTTP helpers
the tests share."""

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

BIN = os.environ.get("QS_BIN", "target/release/quota-sentinel")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def get_json(url: str, key: str):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def sha(key: str) -> str:
    """The `key_sha256` of a workspace key."""
    return hashlib.sha256(key.encode()).hexdigest()


@contextlib.contextmanager
def stack(config: str, upstream_key: str, admin_key: str | None = None,
          gateway_env: dict | None = None):
    """Runs the simulator and the gateway (config file text `config`) until the block ends.
    Yields `{"gw", "sim", "dir"}`: the two base URLs and the temporary directory, which the
    block may use for files of its own (it is removed afterwards)."""
    tmp = tempfile.TemporaryDirectory()
    sim_port, gw_port = free_port(), free_port()
    path = os.path.join(tmp.name, "qs.toml")
    with open(path, "w") as f:
        f.write(config)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    gw_env = {**base_env, "OPENAI_API_KEY": upstream_key,
              "LEPTOS_SITE_ROOT": os.path.join(os.getcwd(), "target/site")}
    if admin_key:
        gw_env["QUOTA_ADMIN_KEY"] = admin_key
    procs = []
    try:
        procs.append(subprocess.Popen(
            [BIN, "simulate", "--sim-listen", f"127.0.0.1:{sim_port}", "--sim-api-key", upstream_key],
            env=base_env,
        ))
        # Before the gateway starts: the block's own files (a clock) may be named in its env.
        env = {"gw": f"http://127.0.0.1:{gw_port}", "sim": f"http://127.0.0.1:{sim_port}",
               "dir": tmp.name}
        extra = gateway_env(env) if callable(gateway_env) else (gateway_env or {})
        procs.append(subprocess.Popen(
            [BIN, "serve", "--config", path, "--listen", f"127.0.0.1:{gw_port}",
             "--database-url", f"sqlite://{tmp.name}/qs.db",
             "--upstream-url", f"http://127.0.0.1:{sim_port}/v1"],
            env={**gw_env, **extra},
        ))
        wait_http(f"{env['sim']}/_sim/stats")
        wait_http(f"{env['gw']}/healthz")
        yield env
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        tmp.cleanup()
