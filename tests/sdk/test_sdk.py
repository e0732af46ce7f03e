"""End-to-end: the official `openai` Python SDK drives the real gateway binary, which forwards
to the project's OpenAI simulator (`quota-sentinel simulate`). Checks that every call lands in
the ledger with the tokens the upstream reported.

Run by `make test` (QS_BIN points at the release binary)."""

import io
import json
import time
import urllib.request

import openai
import pytest

from stack import get_json, sha, stack

UPSTREAM_KEY = "sk-sdk-upstream-0123456789"
WS_KEY = "qs_sdk_workspace_key_0123456789"
TIGHT_KEY = "qs_sdk_tight_workspace_key_0123456789"
ALERTS_KEY = "qs_sdk_alerts_workspace_key_0123456789"
SOFT_KEY = "qs_sdk_soft_workspace_key_0123456789"
ADMIN_KEY = "sdk-admin-key-0123456789"


@pytest.fixture(scope="module")
def env():
    config = (
        '[[workspaces]]\nid = "sdk"\nname = "SDK"\n'
        f'key_sha256 = ["{sha(WS_KEY)}"]\n'
        "requests_per_minute = 0\nrequests_per_day = 0\ntokens_per_minute = 0\n"
        '[[workspaces]]\nid = "tight"\n'
        f'key_sha256 = ["{sha(TIGHT_KEY)}"]\n'
        "requests_per_minute = 1\n"
        '[[workspaces]]\nid = "alerts"\n'
        f'key_sha256 = ["{sha(ALERTS_KEY)}"]\n'
        "requests_per_day = 4\n"
        '[[workspaces]]\nid = "soft"\n'
        f'key_sha256 = ["{sha(SOFT_KEY)}"]\n'
        'requests_per_day = 2\nsoft_limits = ["requests_per_day"]\n'
    )
    with stack(config, UPSTREAM_KEY, admin_key=ADMIN_KEY) as s:
        client = openai.OpenAI(base_url=f"{s['gw']}/v1", api_key=WS_KEY, max_retries=0)
        yield {"client": client, **s}


def usage_by_family(env, want_requests: int):
    deadline = time.time() + 10
    while True:
        rows = get_json(f"{env['gw']}/api/quota/usage?group_by=family&from=2000-01-01", WS_KEY)["rows"]
        if sum(r["requests"] for r in rows) >= want_requests or time.time() > deadline:
            return {r["key"]: r for r in rows}
        time.sleep(0.1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_family_through_the_sdk_is_metered(env):
    c = env["client"]
    expected = {}  # family -> (input, output) the upstream reported to the client
    calls = 0

    def add(family, inp, out):
        i, o = expected.get(family, (0, 0))
        expected[family] = (i + inp, o + out)

    r = c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there gateway"}])
    assert r.choices[0].message.content
    add("chat.completions", r.usage.prompt_tokens, r.usage.completion_tokens)
    calls += 1

    # Streamed without include_usage: the client must not see the usage chunk the gateway asked for.
    chunks = list(c.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream me a reply"}], stream=True))
    assert chunks and all(ch.choices for ch in chunks), "the extra usage chunk leaked to the client"
    assert all(ch.usage is None for ch in chunks)
    calls += 1

    # Streamed with include_usage: the client gets the usage chunk.
    chunks = list(c.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream with usage"}], stream=True,
        stream_options={"include_usage": True}))
    u = chunks[-1].usage
    assert u is not None and chunks[-1].choices == []
    calls += 1

    with c.responses.stream(model="gpt-4o-mini", input="tell me something") as s:
        for _ in s:
            pass
        final = s.get_final_response()
    add("responses", final.usage.input_tokens, final.usage.output_tokens)
    calls += 1

    e = c.embeddings.create(model="text-embedding-3-small", input=["one two three", "four five"])
    assert len(e.data) == 2
    add("embeddings", e.usage.prompt_tokens, 0)
    calls += 1

    img = c.images.generate(model="gpt-image-1", prompt="a lighthouse at dusk", n=1)
    assert img.data and img.data[0].b64_json
    add("images.generations", img.usage.input_tokens, img.usage.output_tokens)
    calls += 1

    audio = io.BytesIO(b"\0" * 64000)
    audio.name = "speech.wav"
    t = c.audio.transcriptions.create(model="gpt-4o-transcribe", file=audio)
    assert t.text
    calls += 1

    f = c.files.create(file=("notes.jsonl", io.BytesIO(b'{"a":1}\n' * 100)), purpose="batch")
    assert f.id.startswith("file-") and f.bytes == 800
    assert any(x.id == f.id for x in c.files.list())
    calls += 2

    m = c.moderations.create(model="omni-moderation-latest", input="be nice")
    assert m.results[0].flagged is False
    calls += 1

    asst = c.beta.assistants.create(model="gpt-4o-mini", name="sdk helper")
    thread = c.beta.threads.create()
    run = c.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    calls += 3
    for _ in range(5):
        run = c.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
        calls += 1
        if run.status == "completed":
            break
    assert run.status == "completed" and run.usage is not None
    # Retrieving a terminal run again must not count its usage twice.
    c.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
    calls += 1
    add("threads.runs", run.usage.prompt_tokens, run.usage.completion_tokens)

    rows = usage_by_family(env, calls)
    assert sum(r["requests"] for r in rows.values()) == calls, rows
    for family, (inp, out) in expected.items():
        assert family in rows, (family, rows)
        assert rows[family]["input_tokens"] >= inp, (family, rows[family], inp)
        assert rows[family]["output_tokens"] >= out, (family, rows[family], out)
    # Exact for non-streamed single-call families.
    for family in ("embeddings", "images.generations", "threads.runs", "responses"):
        assert (rows[family]["input_tokens"], rows[family]["output_tokens"]) == expected[family], family
    # The two chat streams and the plain call: the gateway's totals equal the simulator's.
    sim = json.loads(urllib.request.urlopen(f"{env['sim']}/_sim/stats").read())
    total_in = sum(r["input_tokens"] for r in rows.values())
    assert total_in == sim["tokens_reported"]["input"], (total_in, sim["tokens_reported"])
    assert rows["audio.transcriptions"]["input_tokens"] > 0
    assert rows["chat.completions"]["estimated_requests"] == 0
    assert rows["chat.completions"]["cost_usd"] > 0


def test_bad_key_is_refused_in_openai_shape(env):
    bad = openai.OpenAI(base_url=env["client"].base_url, api_key="qs_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "invalid_api_key"
    assert e.value.status_code == 401


def test_a_refused_call_raises_rate_limit_error_with_the_projects_code(env):
    """A workspace over its limit gets what the SDK knows as a rate limit: 429, in OpenAI's
    error shape, with the project's code and a Retry-After the SDK could honour."""
    tight = openai.OpenAI(base_url=env["client"].base_url, api_key=TIGHT_KEY, max_retries=0)
    msg = [{"role": "user", "content": "hello"}]
    tight.chat.completions.create(model="gpt-4o-mini", messages=msg, max_tokens=4)
    with pytest.raises(openai.RateLimitError) as e:
        tight.chat.completions.create(model="gpt-4o-mini", messages=msg, max_tokens=4)
    assert e.value.status_code == 429
    assert e.value.code == "workspace_quota_exceeded"
    assert "requests_per_minute" in str(e.value.message) or "requests per minute" in str(e.value.message)
    retry_after = int(e.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 60


def alert_notifications(env, key: str, want: int):
    """The workspace's alert notifications (oldest first), once `want` of them are listed."""
    deadline = time.time() + 10
    while True:
        ns = get_json(f"{env['gw']}/api/quota/notifications?limit=50", key)["notifications"]
        alerts = [n for n in ns if n["key"].startswith("notif-alert-")]
        if len(alerts) >= want or time.time() > deadline:
            return list(reversed(alerts)), ns
        time.sleep(0.1)


def test_usage_across_thresholds_raises_each_alert_once(env):
    c = openai.OpenAI(base_url=env["client"].base_url, api_key=ALERTS_KEY, max_retries=0)
    msg = [{"role": "user", "content": "hi"}]
    for _ in range(4):
        c.chat.completions.create(model="gpt-4o-mini", messages=msg, max_tokens=4)
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(model="gpt-4o-mini", messages=msg, max_tokens=4)
    alerts, all_ = alert_notifications(env, ALERTS_KEY, 2)
    assert [(n["args"]["percent"], n["level"]) for n in alerts] == [(50, "info"), (100, "error")], alerts
    assert alerts[1]["args"]["limit"] == "requests_per_day"
    assert "100% of its requests per day limit (4 of 4)" in alerts[1]["body"], alerts[1]["body"]
    assert all(n["id"].startswith("alert:alerts:requests_per_day:") for n in alerts)
    # The threshold alert told it: no second notice of the same limit for the status change.
    assert not any(n["key"] == "notif-quota-exceeded-workspace" for n in all_), all_


def test_a_soft_limit_warns_and_never_refuses(env):
    c = openai.OpenAI(base_url=env["client"].base_url, api_key=SOFT_KEY, max_retries=0)
    msg = [{"role": "user", "content": "hi"}]
    for _ in range(4):
        c.chat.completions.create(model="gpt-4o-mini", messages=msg, max_tokens=4)
    alerts, _ = alert_notifications(env, SOFT_KEY, 2)
    assert [(n["args"]["percent"], n["level"], n["args"]["soft"]) for n in alerts] == [
        (50, "info", "yes"),
        (100, "warning", "yes"),
    ], alerts
    status = get_json(f"{env['gw']}/api/quota/status", SOFT_KEY)
    assert status["status"] == "warning" and status["usage"]["requests_day"] == 4, status
