"""End-to-end: the proxy's policies (issue 13) as the official `openai` Python SDK sees them,
through the real gateway binary in front of the project's simulator: the model downgrade and the
gateway-side retries of an upstream `rate_limit_exceeded`. The SDK's own retries are off
(`max_retries=0`), so that they cannot hide the gateway's.

Run by `make test` (QS_BIN points at the release binary)."""

import hashlib
import json
import os
import subprocess
import tempfile
import time
import urllib.request

import openai
import pytest

from test_sdk import free_port, get_json, wait_http

BIN = os.environ.get("QS_BIN", "target/release/quota-sentinel")
UPSTREAM_KEY = "sk-sdk-policies-upstream-0123456789"
DOWNGRADE_KEY = "qs_sdk_policies_downgrade_key_0123456789"
RETRY_KEY = "qs_sdk_policies_retry_key_0123456789"
MSG = [{"role": "user", "content": "hello"}]


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def env():
    tmp = tempfile.TemporaryDirectory()
    sim_port, gw_port = free_port(), free_port()
    config = os.path.join(tmp.name, "qs.toml")
    with open(config, "w") as f:
        f.write(
            # A soft day budget of a millionth of a dollar: the first call passes half of it
            # (a soft limit never refuses), and `gpt-4o` is then sent as `gpt-4o-mini`.
            '[[workspaces]]\nid = "downgrade"\n'
            f'key_sha256 = ["{sha(DOWNGRADE_KEY)}"]\n'
            'budget_usd_per_day = 0.000001\nsoft_limits = ["budget_usd_per_day"]\n'
            'downgrade = [{ from = "gpt-4o", to = "gpt-4o-mini", at = 0.5 }]\n'
            '[[workspaces]]\nid = "retry"\n'
            f'key_sha256 = ["{sha(RETRY_KEY)}"]\n'
            "upstream_retries = 2\n"
        )
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    sim = subprocess.Popen(
        [BIN, "simulate", "--sim-listen", f"127.0.0.1:{sim_port}", "--sim-api-key", UPSTREAM_KEY],
        env=base_env,
    )
    gw = subprocess.Popen(
        [BIN, "serve", "--config", config, "--listen", f"127.0.0.1:{gw_port}",
         "--database-url", f"sqlite://{tmp.name}/qs.db",
         "--upstream-url", f"http://127.0.0.1:{sim_port}/v1"],
        env={**base_env, "OPENAI_API_KEY": UPSTREAM_KEY,
             "LEPTOS_SITE_ROOT": os.path.join(os.getcwd(), "target/site")},
    )
    try:
        wait_http(f"http://127.0.0.1:{sim_port}/_sim/stats")
        wait_http(f"http://127.0.0.1:{gw_port}/healthz")
        base_url = f"http://127.0.0.1:{gw_port}/v1"
        yield {
            "gw": f"http://127.0.0.1:{gw_port}",
            "sim": f"http://127.0.0.1:{sim_port}",
            "downgrade": openai.OpenAI(base_url=base_url, api_key=DOWNGRADE_KEY, max_retries=0),
            "retry": openai.OpenAI(base_url=base_url, api_key=RETRY_KEY, max_retries=0),
        }
    finally:
        for p in (gw, sim):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        tmp.cleanup()


def sim_call(env, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{env['sim']}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def inject(env, fault: dict, count: int = 1) -> None:
    sim_call(env, "POST", "/_sim/faults", {**fault, "count": count})


def upstream_calls(env) -> int:
    """The `/v1` requests the simulator has seen since its stats were last reset."""
    return sim_call(env, "GET", "/_sim/stats")["requests"]


@pytest.fixture(autouse=True)
def fresh_upstream(env):
    sim_call(env, "DELETE", "/_sim/faults")
    sim_call(env, "DELETE", "/_sim/stats")


def test_a_downgrade_sends_the_call_for_the_cheaper_model(env):
    c = env["downgrade"]
    # Nothing spent yet: the model asked for.
    raw = c.chat.completions.with_raw_response.create(model="gpt-4o", messages=MSG, max_tokens=8)
    assert raw.headers.get("x-quota-model-downgraded-from") is None
    first = raw.parse()
    assert first.model.startswith("gpt-4o") and "mini" not in first.model, first.model
    # Past half the budget: the simulator answers for `gpt-4o-mini`, and the gateway says why.
    raw = c.chat.completions.with_raw_response.create(model="gpt-4o", messages=MSG, max_tokens=8)
    assert raw.headers.get("x-quota-model-downgraded-from") == "gpt-4o"
    second = raw.parse()
    assert second.model.startswith("gpt-4o-mini"), second.model
    assert second.choices[0].message.content
    # The status report lists the rule in effect.
    status = get_json(f"{env['gw']}/api/quota/status", DOWNGRADE_KEY)
    assert {"from": "gpt-4o", "to": "gpt-4o-mini", "at": 0.5} in status["downgrades"], status


def test_the_gateway_retries_a_rate_limit_for_the_sdk(env):
    inject(env, {"fault": "rate_limited", "retry_after_secs": 1})
    started = time.time()
    raw = env["retry"].chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MSG, max_tokens=8)
    assert raw.status_code == 200
    assert raw.headers.get("x-quota-upstream-retries") == "1"
    assert raw.parse().choices[0].message.content
    assert time.time() - started >= 1.0, "the gateway waited for the upstream's retry-after"
    assert upstream_calls(env) == 2


def test_insufficient_quota_is_not_retried(env):
    inject(env, {"fault": "insufficient_quota"})
    with pytest.raises(openai.RateLimitError) as e:
        env["retry"].chat.completions.create(model="gpt-4o-mini", messages=MSG, max_tokens=8)
    assert e.value.status_code == 429
    assert e.value.code == "insufficient_quota"
    assert e.value.response.headers.get("x-quota-upstream-retries") is None
    assert upstream_calls(env) == 1


def test_without_the_setting_a_rate_limit_reaches_the_sdk(env):
    inject(env, {"fault": "rate_limited", "retry_after_secs": 0})
    with pytest.raises(openai.RateLimitError) as e:
        env["downgrade"].chat.completions.create(model="gpt-4o-mini", messages=MSG, max_tokens=8)
    assert e.value.code == "rate_limit_exceeded"
    assert upstream_calls(env) == 1
