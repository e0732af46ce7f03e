"""End-to-end, with the official `openai` Python SDK: the policies that act before the wall in
the quota core — priority classes (`X-Quota-Priority`), scheduled resets (`reset_daily_at`,
`reset_monthly_on`) and limits edited live through the admin API.

The gateway runs under libfaketime (Debian's `faketime`), its wall clock offset by what the
test writes into a file, so a scheduled reset is reached without waiting for it; its monotonic
clock (timers, deadlines) is left alone. Run by `make test` (QS_BIN points at the release
binary)."""

import datetime as dt
import json
import os
import time
import urllib.request

import openai
import pytest

from stack import get_json, sha, stack

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
UPSTREAM_KEY = "sk-sdk-upstream-0123456789"
ADMIN_KEY = "sdk-admin-key-0123456789"
KEYS = {
    "prio": "qs_sdk_prio_workspace_key_0123456789",
    "daily": "qs_sdk_daily_workspace_key_0123456789",
    "monthly": "qs_sdk_monthly_workspace_key_0123456789",
    "live": "qs_sdk_live_workspace_key_0123456789",
}
# The gateway's clock starts one minute before the scheduled day and month start of
# 2027-01-14 03:00 UTC.
START = dt.datetime(2027, 1, 14, 2, 59, 0, tzinfo=dt.timezone.utc)
RESET = dt.datetime(2027, 1, 14, 3, 0, 0, tzinfo=dt.timezone.utc)
MSG = [{"role": "user", "content": "hi"}]


class Clock:
    """The gateway's wall clock: real time plus an offset kept in libfaketime's file."""

    def __init__(self, path: str):
        self.path = path

    def set(self, at: dt.datetime) -> None:
        offset = at.timestamp() - time.time()
        with open(self.path + ".tmp", "w") as f:
            f.write(f"{offset:+.3f}\n")
        os.replace(self.path + ".tmp", self.path)


@pytest.fixture(scope="module")
def env():
    if not os.path.exists(FAKETIME_LIB):
        pytest.fail(f"{FAKETIME_LIB} is missing: `make test` installs Debian's faketime")
    config = (
        '[server]\ntime_zone = "UTC"\n'
        '[[workspaces]]\nid = "prio"\n'
        f'key_sha256 = ["{sha(KEYS["prio"])}"]\n'
        "requests_per_day = 10\npriority_shares = { optional = 0.5, normal = 0.8 }\n"
        "alert_thresholds = []\n"
        '[[workspaces]]\nid = "daily"\n'
        f'key_sha256 = ["{sha(KEYS["daily"])}"]\n'
        'requests_per_day = 2\nreset_daily_at = "03:00"\nalert_thresholds = []\n'
        '[[workspaces]]\nid = "monthly"\n'
        f'key_sha256 = ["{sha(KEYS["monthly"])}"]\n'
        'budget_usd_per_month = 0.00002\nreset_daily_at = "03:00"\nreset_monthly_on = 14\n'
        "alert_thresholds = []\n"
        '[[workspaces]]\nid = "live"\n'
        f'key_sha256 = ["{sha(KEYS["live"])}"]\n'
        "requests_per_day = 1\nalert_thresholds = []\n"
    )
    clocks = []

    def faked(s):
        # The gateway's wall clock starts at START; the simulator keeps the real one.
        clock = Clock(os.path.join(s["dir"], "faketime"))
        clock.set(START)
        clocks.append(clock)
        return {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME_TIMESTAMP_FILE": clock.path,
                "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}

    with stack(config, UPSTREAM_KEY, admin_key=ADMIN_KEY, gateway_env=faked) as s:
        yield {**s, "clock": clocks[0]}


def client(env, ws: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{env['gw']}/v1", api_key=KEYS[ws], max_retries=0)


def chat(c: openai.OpenAI, priority: str | None = None):
    headers = {"X-Quota-Priority": priority} if priority else None
    return c.chat.completions.create(model="gpt-4o-mini", messages=MSG, max_tokens=4,
                                     extra_headers=headers)


def status(env, ws: str):
    return get_json(f"{env['gw']}/api/quota/status", KEYS[ws])


def instant(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_lower_priority_classes_are_shed_first(env):
    c = client(env, "prio")
    # 10 requests a day: optional calls to 50 %, normal to 80 %, critical and untagged to 100 %.
    for _ in range(5):
        chat(c, "optional")
    with pytest.raises(openai.RateLimitError) as e:
        chat(c, "optional")
    assert e.value.status_code == 429
    assert e.value.code == "workspace_quota_exceeded"
    assert e.value.param == "priority"
    assert "refuses optional calls from 50%" in e.value.message, e.value.message
    assert int(e.value.response.headers["retry-after"]) >= 1
    # Shedding a class does not limit the workspace; the check says which class may go on.
    assert status(env, "prio")["status"] == "normal"
    shed = get_json(f"{env['gw']}/api/quota/check?priority=optional", KEYS["prio"])
    assert shed["allowed"] is False and shed["retry_after_seconds"] >= 1, shed
    assert get_json(f"{env['gw']}/api/quota/check?priority=normal", KEYS["prio"])["allowed"] is True
    assert get_json(f"{env['gw']}/api/quota/check", KEYS["prio"])["allowed"] is True
    for _ in range(3):
        chat(c, "normal")
    with pytest.raises(openai.RateLimitError) as e:
        chat(c, "normal")
    assert e.value.param == "priority" and "normal calls from 80%" in e.value.message
    chat(c, "critical")
    chat(c)  # no header: up to the whole limit
    for priority in ("critical", None):
        with pytest.raises(openai.RateLimitError) as e:
            chat(c, priority)
        assert e.value.code == "workspace_quota_exceeded"
        assert e.value.param is None, "the limit itself refuses every class"
    assert status(env, "prio")["status"] == "quota_exceeded"


def test_a_bad_priority_is_a_clear_400(env):
    with pytest.raises(openai.BadRequestError) as e:
        chat(client(env, "prio"), "urgent")
    assert "X-Quota-Priority must be critical, normal or optional" in e.value.message


def test_scheduled_day_and_month_resets_on_the_gateways_clock(env):
    env["clock"].set(START)
    daily, monthly = client(env, "daily"), client(env, "monthly")
    s = status(env, "daily")
    assert instant(s["next_resets"]["day"]) == RESET, s["next_resets"]
    assert s["limits"]["reset_daily_at"] == "03:00"
    m = status(env, "monthly")
    assert instant(m["next_resets"]["month"]) == RESET, m["next_resets"]
    assert instant(m["next_resets"]["day"]) == RESET

    chat(daily)
    chat(daily)
    with pytest.raises(openai.RateLimitError) as e:
        chat(daily)
    # The day ends at 03:00, within the minute.
    assert 1 <= int(e.value.response.headers["retry-after"]) <= 60
    refused = None
    for _ in range(10):
        try:
            chat(monthly)
        except openai.RateLimitError as err:
            refused = err
            break
    assert refused is not None, "a $0.00002 month budget refused nothing"
    assert refused.type == "budget" and "USD per month" in refused.message
    assert 1 <= int(refused.response.headers["retry-after"]) <= 60

    # 03:00: a new day and a new month period begin.
    env["clock"].set(RESET + dt.timedelta(seconds=2))
    chat(daily)
    chat(monthly)
    s = status(env, "daily")
    assert s["usage"]["requests_day"] == 1, s["usage"]
    assert instant(s["next_resets"]["day"]) == RESET + dt.timedelta(days=1)
    m = status(env, "monthly")
    assert instant(m["next_resets"]["month"]) == dt.datetime(2027, 2, 14, 3, 0, tzinfo=dt.timezone.utc)


def patch(env, ws: str, body: dict):
    req = urllib.request.Request(
        f"{env['gw']}/api/admin/workspaces/{ws}", method="PATCH", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_limit_edited_live_applies_to_the_next_call(env):
    c = client(env, "live")
    chat(c)
    with pytest.raises(openai.RateLimitError):
        chat(c)
    code, body = patch(env, "live", {"requests_per_day": 3})
    assert code == 200, body
    chat(c)  # at once, no restart
    assert status(env, "live")["limits"]["requests_per_day"] == 3
    # Policies are edited the same way, checked by the config file's rules.
    code, body = patch(env, "live", {"reset_daily_at": "25:00"})
    assert code == 400, body
    assert body["error"]["param"] == "reset_daily_at"
    assert "HH:MM" in body["error"]["message"]
    code, body = patch(env, "live", {"priority_shares": {"optional": 0.1}})
    assert code == 200, body
    with pytest.raises(openai.RateLimitError) as e:
        chat(c, "optional")
    assert e.value.param == "priority"
