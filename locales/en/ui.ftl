# Errors shown as a workspace's last error (status reports, admin table).
# $resets_at is the local time a daily or monthly limit resets (00:00); $wait the wait in words (21 h 1 min).
error-workspace-limit = A call was refused: the workspace reached its limit of { $limit }. Retry in { $retry_after ->
        [one] { $retry_after } second
       *[other] { $retry_after } seconds
    }.
error-workspace-limit-day = A call was refused: the workspace reached its limit of { $limit }. It resets at { $resets_at }, in { $wait }.
error-workspace-limit-month = A call was refused: the workspace reached its limit of { $limit }. It resets on the first of the month at { $resets_at }, in { $wait }.
error-upstream-timeout = OpenAI did not answer in time.
error-upstream-unreachable = OpenAI could not be reached.
error-upstream-cut = The connection to OpenAI broke while a response was streaming.
error-upstream-rate-limited = OpenAI rate-limited the account.
error-upstream-quota = OpenAI refused the call: the account is out of credit.
error-upstream-server = OpenAI answered with a server error ({ $status }).
error-quota-state-unavailable = A call was refused: the quota state the gateway instances share (Redis) did not answer, and this workspace has a USD budget. Calls resume when it answers.

## ─── Web interface ───────────────────────────────────────────────────────────────
## Everything below is shown in the browser. Keep the keys; translate the text.

app-name = Quota Sentinel
# This language's own name, shown in the language menu.
language-name = English
language-label = Language
loading = Loading…

## Formats. Numbers use these separators (write "space" for a thin space);
## dates use chrono patterns: %d day, %m month, %Y year, %H hour, %M minute.
number-decimal-separator = .
number-group-separator = ,
# $amount is already formatted with the separators above.
money-usd = ${ $amount }
date-short-format = %b %d
datetime-format = %Y-%m-%d %H:%M UTC
time-ago-seconds = { $count ->
    [one] 1 second ago
   *[other] { $count } seconds ago
}
time-ago-minutes = { $count ->
    [one] 1 minute ago
   *[other] { $count } minutes ago
}
time-ago-hours = { $count ->
    [one] 1 hour ago
   *[other] { $count } hours ago
}
time-ago-days = { $count ->
    [one] 1 day ago
   *[other] { $count } days ago
}

## Durations (a wait, shown as $wait): under a minute in seconds, then minutes, then hours and
## minutes. Every count goes through a plural choice, even where the words do not change.

duration-seconds = { $seconds ->
        [one] { $seconds } second
       *[other] { $seconds } seconds
    }
duration-minutes = { $minutes ->
        [one] { $minutes } min
       *[other] { $minutes } min
    }
duration-hours = { $hours ->
        [one] { $hours } h
       *[other] { $hours } h
    }
duration-hours-minutes = { $hours ->
        [one] { $hours } h
       *[other] { $hours } h
    } { $minutes ->
        [one] { $minutes } min
       *[other] { $minutes } min
    }

## Header and navigation.
nav-label = Main
nav-workspace = Workspace
nav-admin = All workspaces
nav-sign-out = Sign out
connection-live = Live
connection-connecting = Connecting…
connection-reconnecting = Reconnecting…
connection-offline = Offline
stale-data = This data may be out of date: the connection to the server is down.

## Sign-in page.
login-title = Sign in
login-intro = Paste a workspace key to see your workspace, or the admin key to see every workspace.
login-key-label = Key
login-key-placeholder = qs_… or the admin key
login-key-help = The key is sent once; the browser then keeps only a session cookie.
login-submit = Sign in
login-error-empty = Paste a key first.
login-error-invalid = This key is not valid.
login-error-failed = Signing in failed. Please try again.
login-error-blocked = Too many wrong keys were sent from your address. Wait a minute, then try again.

## Errors and empty pages.
forbidden-title = Not allowed
forbidden-body = This page is for administrators. Sign in with the admin key to open it.
forbidden-home = Go to the start page
not-found-title = Page not found
load-error-title = Could not load this page
load-error-body = The server did not answer as expected. Reload the page to try again.
load-error-reference = Reference for the administrator: { $reference }

## Statuses (pills, filters).
status-label-normal = Normal
status-label-warning = Warning
status-label-degraded = Degraded
status-label-rate_limited = Rate limited
status-label-quota_exceeded = Quota exceeded

## The banner shown while calls are refused or failing.
banner-title-rate_limited = Calls are being rate limited
banner-title-quota_exceeded = Quota used up: calls are refused
banner-title-degraded = OpenAI is having problems
banner-title-normal = All good
banner-title-warning = Approaching a limit
banner-scope = Whose limit:
banner-scope-workspace = this workspace's own limit.
banner-scope-account = the OpenAI account's limit, shared by every workspace.
banner-actions = What to do
banner-retry-in = { $seconds ->
    [one] Calls can be retried in 1 second.
   *[other] Calls can be retried in { $seconds } seconds.
}
banner-retry-in-wait = Calls can be retried in { $wait }.
banner-retry-now = Calls can be retried now.

## Usage bars.
usage-title = Usage
usage-label-requests_per_minute = Requests per minute
usage-label-requests_per_day = Requests today
usage-label-tokens_per_minute = Tokens per minute
usage-label-tokens_per_day = Tokens today
usage-label-budget_usd_per_day = Spend today
usage-label-budget_usd_per_month = Spend this month
# $used and $limit are already formatted.
usage-of-limit = { $used } of { $limit }
usage-no-limit = { $used } (no limit)
usage-state-warning = ⚠ near the limit
usage-state-full = ⊘ limit reached
usage-warning-mark = Warning threshold
forecast-runs-out = At this rate it runs out at { $runs_out_at }, before it resets at { $resets_at }.
forecast-lasts = At this rate it lasts until it resets at { $resets_at }.

## Next resets and model downgrades (workspace page, a workspace's detail page).
# $at is a local time in the gateway's time zone: 00:00 (the daily reset), 2024-06-01 00:00 (the monthly one).
resets-day = Next reset of the daily limits: { $at }
resets-month = Next reset of the monthly limit: { $at }
resets-zone = Times are in the gateway's time zone.
downgrade-title = Cheaper models in use
# $from and $to are model names; $percent a share of the USD budget, already formatted (90).
downgrade-active = Calls for { $from } now use { $to }: { $percent }% of the USD budget is used.

## Upstream headroom.
upstream-title = OpenAI headroom
upstream-help = What the OpenAI account has left in its current rate-limit window, shared by every workspace.
upstream-none = No headroom reported by OpenAI yet.
upstream-requests = Requests left
upstream-tokens = Tokens left
upstream-remaining-of = { $remaining } of { $limit }
upstream-unknown = unknown
upstream-observed = Last seen

## Usage by goal and task.
breakdown-title = Today's usage by goal and task
breakdown-by-goal = By goal
breakdown-by-task = By task
usage-table-key = Name
usage-table-requests = Requests
usage-table-tokens = Tokens
usage-table-cost = Cost
usage-table-empty = No calls today.
usage-table-untagged = (untagged)

## Notifications and toasts.
notifications-title = Recent notifications
notifications-empty = No notifications yet.
level-info = Information
level-warning = Warning
level-error = Error
toasts-label = Notifications
toast-close = Dismiss notification
toast-count = { $count ->
    [one] once
   *[other] ×{ $count }
}
toast-more = { $count ->
    [one] +{ $count } more notification
   *[other] +{ $count } more notifications
}
toast-dismiss-all = Dismiss all

## Admin pages.
overview-title = Overview
overview-account = OpenAI account
overview-spend = Spend
overview-spend-today = Today, all workspaces
overview-spend-month = This month, all workspaces
overview-of-budget = of { $budget }
overview-account-forecast = Account budget, { $limit }: { $forecast }
overview-top-spend = Highest spend today
overview-no-spend = Nothing spent today.
overview-burn = On course to run out
overview-no-burn = No workspace is on course to use up a limit before it resets.
overview-latest-alerts = Latest alerts
nav-audit = Audit trail
audit-title = Audit trail
audit-export = Export CSV
audit-col-at = When
audit-col-actor = Who
audit-col-address = From
audit-col-action = Action
audit-col-target = On
audit-col-change = Change
audit-empty = No admin action yet.
audit-older = Older entries
audit-failed = Older entries could not be loaded. Try again.
rules-title = Alert rules
rules-thresholds = Alert at these shares of each daily and monthly limit (%)
rules-thresholds-help = Each alert is sent once per period. Leave empty for no threshold alerts.
rules-soft = Warn only, never refuse
rules-save = Save alert rules
rules-saved = Saved: the rules apply now.
rules-failed = Not saved.
rules-invalid-thresholds = Give up to 10 percentages between 0 and 100, separated by commas.

## Limits and policies (a workspace's detail page, admin).
policies-title = Limits and policies
policies-intro = Changes apply from the next call on, without a restart, and are kept across restarts.
policies-limits = Limits (empty or 0: no limit)
policies-limit-requests_per_minute = Requests per minute
policies-limit-requests_per_day = Requests per day
policies-limit-tokens_per_minute = Tokens per minute
policies-limit-tokens_per_day = Tokens per day
policies-limit-budget_usd_per_day = Budget per day (USD)
policies-limit-budget_usd_per_month = Budget per month (USD)
policies-no-limit = no limit
policies-warning_at = Warning level (% of each limit)
policies-priority_shares = Priority shares (% of each limit)
policies-share-optional = Optional calls up to
policies-share-normal = Normal calls up to
policies-shares-help = Calls sent with X-Quota-Priority: optional or normal are refused from these shares on; critical calls and calls without the header only at the limit. Empty: optional calls up to the warning level, normal ones up to 95%.
policies-downgrade = Model downgrades
policies-downgrade-help = From a share of the USD budget (the day's or the month's, whichever is further along), calls for one model use another.
policies-downgrade-from = Calls for model
policies-downgrade-to = use model
policies-downgrade-at = from (% of the budget)
policies-downgrade-add = Add a rule
policies-downgrade-remove = Remove this rule
policies-downgrade-empty = No downgrade rule.
policies-resets-retries = Resets and retries
policies-upstream_retries = Retries when OpenAI rate-limits a call (0–5)
policies-reset_daily_at = Daily reset time (HH:MM, gateway time)
policies-reset_monthly_on = Monthly reset day (1–31)
policies-reset-help = The daily limits reset at this time, the monthly limit on this day at this time (a shorter month resets on its last day).
policies-save = Save limits and policies
policies-saving = Saving…
policies-saved = Saved: the new limits and policies apply now.
policies-failed = Not saved.
# $field is a field's label from above, $rule the rule its value breaks (a limit-rule-… message).
policies-invalid = { $field }: { $rule }
policies-rule-count = must be a whole number of 0 or more (0 or empty: no limit).

## The rules of limits and policies, named when a value breaks one (the admin form; API clients
## that show them in the reader's language). Each follows a field's name and a colon.
limit-rule-budget = must be an amount in USD of 0 or more (0: no budget).
limit-rule-warning_at = must be a share of the limit above 0% and at most 100%, e.g. 80%.
limit-rule-alert_thresholds = must be at most 10 shares above 0% and at most 100%, e.g. 50, 80, 95, 100%.
limit-rule-alert_thresholds_by_limit = must give daily and monthly limits (minute limits have no thresholds) at most 10 shares each, above 0% and at most 100%.
limit-rule-priority_shares = the optional and the normal share must each be above 0% and at most 100%, the optional one at most the normal one (empty: optional at the warning level, normal at 95%).
limit-rule-downgrade = must be at most 20 rules, each with two different model names and a share of the budget above 0% and at most 100%, each model downgraded by one rule at most, e.g. gpt-4o to gpt-4o-mini at 90%.
limit-rule-upstream_retries = must be a whole number of retries from 0 to 5.
limit-rule-reset_daily_at = must be a local time HH:MM (24-hour), e.g. 06:00.
limit-rule-reset_monthly_on = must be a day of the month from 1 to 31 (a shorter month resets on its last day).
nav-channels = Alert channels
channels-title = Alert channels
channels-intro = Alerts reach people where they are: a webhook, a team chat or a mailbox. Each channel takes the levels it is set to, in its own language and time zone.
channels-empty = No channel yet: alerts reach only the open pages.
channels-add = Add channel
channels-id = Id (letters, digits, - and _)
channels-kind = Kind
channels-url = URL
channels-to = Addresses (separated by commas)
channels-levels = Levels
channels-workspaces = Workspaces
channels-all-workspaces = All workspaces
channels-locale = Language
channels-target = Sends to
channels-origin = Defined in
channels-origin-file = the configuration file
channels-origin-api = this page
channels-test = Send a test alert
channels-test-queued = Test alert queued.
channels-test-failed = The test alert could not be queued.
channels-log = Delivery log
channels-log-empty = Nothing delivered yet.
channels-log-failed = The delivery log could not be loaded.
channels-delete = Delete
channels-delete-question = Delete this channel? Alerts waiting for it are given up.
channels-delete-failed = The channel could not be deleted.
channels-added = Channel added.
channels-add-failed = Not added.
channels-secret-once = The webhook's signing secret, shown only now: copy it to the receiver.
channel-kind-webhook = Webhook
channel-kind-slack = Slack-compatible
channel-kind-email = Email
delivery-attempt = Attempt
delivery-outcome = Outcome
delivery-reply = Reply
delivery-latency = Took
delivery-ms = { $ms } ms
delivery-delivered = Delivered
delivery-will_retry = Will retry
delivery-gave_up = Given up
admin-title = All workspaces
admin-filter = Filter
admin-filter-placeholder = Workspace name or id
admin-filter-status = Status
admin-filter-any = Any status
admin-empty = No workspace matches.
admin-col-workspace = Workspace
admin-col-status = Status
admin-col-requests_day = Requests today
admin-col-tokens_day = Tokens today
admin-col-spend_day = Spend today
admin-col-spend_month = Spend this month
admin-col-last_error = Last error
detail-back = ← All workspaces
history-title = History
chart-hourly-requests = Requests per hour (last 24 hours)
chart-hourly-tokens = Tokens per hour (last 24 hours)
chart-hourly-cost = Cost per hour (last 24 hours)
chart-daily-requests = Requests per day (last 30 days)
chart-daily-tokens = Tokens per day (last 30 days)
chart-daily-cost = Cost per day (last 30 days)
chart-summary = Total: { $total }
reset-button = Reset quota status
reset-confirm-question = Reset this workspace's counters and statuses, including the account-wide one? This cannot be undone.
reset-confirm-yes = Yes, reset
reset-confirm-no = Cancel
reset-done = The workspace was reset.
reset-failed = The reset failed.

# Shown on every page in demo mode (quota-sentinel demo).
demo-notice = Demo: simulated OpenAI and synthetic traffic — nothing here is real usage.

## First run (/setup), reached through the one-time link the gateway prints at its first start.
setup-title = Set up Quota Sentinel
setup-intro = Create the first workspace. Its key is what your applications send instead of the OpenAI key; the gateway adds the real one.
setup-id-label = Workspace id
setup-id-help = Letters, digits, - and _ (up to 64). It names the workspace in the API and the logs.
setup-name-label = Display name (optional)
setup-submit = Create the workspace and its key
setup-error-id = The id may only hold letters, digits, - and _, up to 64 characters.
setup-error-exists = A workspace with this id already exists.
setup-error-session = The setup session has ended. Restart the gateway for a new setup link.
setup-error-failed = The workspace could not be created. Try again.
setup-done-title = Workspace { $name } is ready
setup-done-env = Set these two variables where your application runs; every OpenAI SDK reads them:
setup-done-key-once = The key is shown only this once: copy it now.
setup-done-admin = This setup session ends when the gateway restarts. To keep admin access, set QUOTA_ADMIN_KEY before the next start.
setup-open-workspace = Open the workspace
setup-closed-title = This setup link no longer works
setup-closed-used = It was already used: a setup link works once.
setup-closed-expired = It has expired: a setup link works for 15 minutes.
setup-closed-invalid = It is not this gateway's current setup link.
setup-closed-next = While the gateway has no workspace and no admin key, it prints a new link each time it starts. Or sign in with a key.
setup-closed-sign-in = Sign in with a key

# Workspace list paging
admin-paging = Pages of workspaces
admin-page-range = { $from }–{ $to } of { $total }
admin-page-previous = Previous
admin-page-next = Next
admin-page-loading = Loading…
admin-page-failed = The workspaces could not be loaded. Try again.
