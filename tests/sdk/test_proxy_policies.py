"""End-to-end: the proxy's policies (issue 13) as the official `openai` Python SDK sees them,
through the real gateway binary in front of the project's simulator: the model downgrade and the
gateway-side retries of an upstream `rate_limit_exceeded`. The SDK's own retries are off
(`max_retries=0`), so that they cannot hide the gateway's.

Run by `make test` (QS_BIN points at the release binary)."""

import json
import time
import urllib.request

import openai
import pytest

from stack import get_json, sha, stack

UPSTREAM_KEY = "sk-sdk-policies-upstream-0123456789"
DOWNGRADE_KEY = "qs_sdk_policies_downgrade_key_0123456789"
RETRY_KEY = "qs_sdk_policies_retry_key_0123456789"
MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def env():
    config = (
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
    with stack(config, UPSTREAM_KEY) as s:
        base_url = f"{s['gw']}/v1"
        yield {
            **s,
            "downgrade": openai.OpenAI(base_url=base_url, api_key=DOWNGRADE_KEY, max_retries=0),
            "retry": openai.OpenAI(base_url=base_url, api_key=RETRY_KEY, max_retries=0),
        }


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


def test_a_stream_cut_after_its_first_bytes_is_never_sent_again(env):
    # The answer started (200 and two events reached the SDK) before the upstream broke it:
    # the gateway must not send the call again, whatever `upstream_retries` says.
    inject(env, {"fault": "cut_stream", "after_chunks": 2})
    got = []
    with pytest.raises(Exception) as e:
        for chunk in env["retry"].chat.completions.create(
                model="gpt-4o-mini", messages=MSG, stream=True):
            got.append(chunk)
    assert got, "the SDK read the stream's first events"
    assert not isinstance(e.value, openai.RateLimitError), e.value
    assert upstream_calls(env) == 1
