## Quota Sentinel: what alert channels (webhook, Slack, email) add around a notification (English).
##
## Arguments:
##   $channel    a channel's id (ops)
##   $workspace  a workspace's id (acme)
##   $status     a status' name, already translated (quota exceeded)
##   $time       a date and time in the channel's time zone (2026-11-30 14:05:09 CET)
##   $title      the notification's title, already translated

## The notification of POST /api/admin/channels/{id}/test.

alert-test =
    .title = Test alert from Quota Sentinel
    .body = This is a test alert for the channel { $channel }. If you can read it, the channel works.

## Slack: the context line under the message.

alert-context = Workspace { $workspace } · { $status } · { $time }
alert-context-test = Test alert · { $time }

## Email: subject, details and footer.

alert-email-subject = [Quota Sentinel] { $title } – workspace { $workspace }
alert-email-subject-test = [Quota Sentinel] { $title }
alert-label-workspace = Workspace: { $workspace }
alert-label-status = Status: { $status }
alert-label-time = Time: { $time }
alert-email-footer = Sent by Quota Sentinel through the alert channel { $channel }.
