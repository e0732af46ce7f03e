## Quota Sentinel: quota notifications, status messages and suggested actions (English).
##
## Arguments given by the quota core:
##   $limit        a limit's wire name (tokens_per_day); its text is the message limit-<name>
##   $resource     requests or tokens (selected on in the messages themselves)
##   $from         the previous status' wire name (notif-recovered; not shown in English)
##   $status       a status' wire name; its text is the message status-name-<name>
##   $percent      a whole percentage (87)
##   $retry_after  seconds until a retry can succeed
##   $wait         $retry_after as a duration in words ("45 seconds", "21 h 1 min"), added when shown
##   $consecutive  a count of consecutive upstream failures
##   $model        a model name
##   $field        the name of a limit field as written in the configuration (warning_at); not translated
##   $used, $cap   an amount used and a limit's value, in $unit: usd (dollars) or count
##   $soft         yes when the limit only warns, else no
##   $reason       period_reset, admin_reset or limit_raised (selected on; not shown)
##   $resets_at, $runs_out_at   local times (15:40, or 2024-06-01 00:00 beyond a day), given as shown
## Suggested actions are rendered with the arguments of the message they come with.

## Notifications: one per kind of transition, each with a title and a body.

notif-warning-near-limit =
    .title = Approaching a workspace limit
    .body = This workspace has used { $percent }% of its { $limit } limit.
notif-warning-upstream-headroom =
    .title = OpenAI rate limit running low
    .body = Only { $percent }% of the OpenAI account's { $resource ->
        [requests] request
       *[tokens] token
    } rate limit is left. Every workspace on the account shares it.
notif-rate-limited-workspace =
    .title = Workspace rate limited
    .body = This workspace has reached its { $limit } limit. Calls are refused until enough of the last minute's usage expires.
notif-rate-limited-upstream =
    .title = Rate limited by OpenAI
    .body = The OpenAI account is rate limiting the gateway. Calls are refused until its limit resets.
notif-quota-exceeded-workspace =
    .title = Workspace limit used up
    .body = This workspace has used all of its { $limit } limit. Calls are refused until the limit resets at the start of the next period.
notif-quota-exceeded-account =
    .title = OpenAI account out of credit
    .body = The OpenAI account behind this gateway is out of credit, so every call of every workspace is refused. An admin must add credit to the OpenAI account, then reset the quota status in Quota Sentinel.
notif-degraded =
    .title = OpenAI is failing
    .body = The OpenAI API failed { $consecutive ->
        [one] once
       *[other] { $consecutive } times
    } in a row (server errors, timeouts or refused connections). Calls may fail until it recovers.
notif-recovered =
    .title = Back to normal
    .body = Calls are admitted normally again.
notif-unpriced-model =
    .title = Model without a price
    .body = The model { $model } has no price, so the cost of its calls is not counted against budgets.
notif-unpriced-models =
    .title = Models without a price
    .body = { $more ->
        [0] The models { $models } have no price, so the cost of their calls is not counted against budgets.
       *[other] The models { $models } and { $more } more have no price, so the cost of their calls is not counted against budgets.
    }
notif-stored-limits-invalid =
    .title = Stored limits are invalid
    .body = This workspace's stored limits break a rule ({ $field }), so the default limits apply to it until they are corrected.
notif-alert-threshold =
    .title = { $soft ->
        [yes] { $percent }% of a warn-only limit used
       *[no] { $percent }% of a workspace limit used
    }
    .body = This workspace has used { $percent }% of its { $limit } limit ({ $unit ->
        [usd] { $used } of { $cap } USD
       *[count] { $used } of { $cap }
    }). It resets at { $resets_at }.{ $soft ->
        [yes] { " " }This limit only warns: calls are not refused.
       *[no] { "" }
    }
notif-alert-back-under =
    .title = Back under the alert thresholds
    .body = { $reason ->
        [period_reset] The { $limit } limit has reset for the new period: its alerts (up to { $percent }%) start over.
        [admin_reset] An admin reset this workspace's counters: the { $limit } limit's alerts (up to { $percent }%) start over.
       *[limit_raised] The { $limit } limit was raised: usage is back under { $percent }% of it.
    }
notif-alert-burn-rate =
    .title = On course to use up a limit
    .body = At the current rate, the { $limit } limit ({ $percent }% used) runs out at { $runs_out_at }, before it resets at { $resets_at }.
notif-account-alert-threshold =
    .title = { $percent }% of the account's budget used
    .body = All workspaces together have used { $percent }% of the account's { $limit } ({ $used } of { $cap } USD). It resets at { $resets_at }. This budget only warns: calls are not refused.
notif-account-alert-back-under =
    .title = Account budget back under its alert thresholds
    .body = { $reason ->
        [period_reset] The account's { $limit } has reset for the new period: its alerts (up to { $percent }%) start over.
        [admin_reset] The account's { $limit } alerts (up to { $percent }%) start over.
       *[limit_raised] The account's { $limit } was raised: spend is back under { $percent }% of it.
    }
notif-account-alert-burn-rate =
    .title = The account is on course to use up its budget
    .body = At the current rate, all workspaces together use up the account's { $limit } ({ $percent }% used) at { $runs_out_at }, before it resets at { $resets_at }.
notif-status-changed =
    .title = Quota status changed
    .body = The quota status is now { $status }.

## Status messages (GET /api/quota/status): one per cause.

status-normal = Every limit has room: calls are admitted.
status-warning-near-limit = { $percent }% of the { $limit } limit is used.
status-warning-upstream-headroom = Only { $percent }% of the OpenAI account's { $resource ->
        [requests] request
       *[tokens] token
    } rate limit is left.
status-rate-limited-workspace = The { $limit } limit is reached: calls are refused for now.
status-rate-limited-upstream = The OpenAI account is rate limiting calls: they are refused for now.
status-quota-exceeded-workspace = The { $limit } limit is used up: calls are refused until it resets.
status-quota-exceeded-account = The OpenAI account is out of credit: every call is refused until an admin adds credit and resets the quota status.
status-degraded = The OpenAI API is failing ({ $consecutive ->
        [one] { $consecutive } failure
       *[other] { $consecutive } failures
    } in a row): calls may fail.
status-other = The quota status is { $status }.

## Suggested actions.

action-wait-retry = Retry in { $retry_after ->
        [one] { $retry_after } second
       *[other] { $retry_after } seconds
    }.
action-wait-retry-long = Retry in { $wait }.
action-retry-later = Retry in a little while.
action-wait-period-reset = Wait until the limit resets: at local midnight for daily limits, on the first of the month for monthly ones.
action-raise-limit = Ask an admin to raise this workspace's limit.
action-reduce-usage = Send fewer or smaller requests, for example with a lower max_tokens.
action-check-upstream = Check the OpenAI account's status page and rate limits.
action-add-credit = An admin must add credit to the OpenAI account in its billing settings.
action-reset-after-credit = Once the credit is added, an admin resets the quota status in Quota Sentinel.
action-set-model-price = Ask an admin to add a price for this model to the gateway's configuration.
action-fix-stored-limits = Ask an admin to correct this workspace's limits, or to declare the workspace in the gateway's configuration file.

## Limit names (for $limit).

limit-requests_per_minute = requests per minute
limit-requests_per_day = requests per day
limit-tokens_per_minute = tokens per minute
limit-tokens_per_day = tokens per day
limit-budget_usd_per_day = daily budget
limit-budget_usd_per_month = monthly budget

## Status names (for $status).

status-name-normal = normal
status-name-warning = warning
status-name-degraded = degraded
status-name-rate_limited = rate limited
status-name-quota_exceeded = quota exceeded

