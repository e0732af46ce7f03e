# Errors shown as a workspace's last error (status reports, admin table).
error-workspace-limit = A call was refused: the workspace reached its limit of { $limit }. Retry in { $retry_after } s.
error-upstream-timeout = OpenAI did not answer in time.
error-upstream-unreachable = OpenAI could not be reached.
error-upstream-cut = The connection to OpenAI broke while a response was streaming.
error-upstream-rate-limited = OpenAI rate-limited the account.
error-upstream-quota = OpenAI refused the call: the account is out of credit.
error-upstream-server = OpenAI answered with a server error ({ $status }).
