## Quota Sentinel: was Alarmkanäle (Webhook, Slack, E-Mail) um eine Benachrichtigung setzen (Deutsch).
##
## Argumente:
##   $channel    die Kennung eines Kanals (ops)
##   $workspace  die Kennung eines Workspaces (acme)
##   $status     der Name eines Status, schon übersetzt (Kontingent überschritten)
##   $time       Datum und Uhrzeit in der Zeitzone des Kanals (2026-11-30 14:05:09 CET)
##   $title      der Titel der Benachrichtigung, schon übersetzt

## Die Benachrichtigung von POST /api/admin/channels/{id}/test.

alert-test =
    .title = Testalarm von Quota Sentinel
    .body = Dies ist ein Testalarm für den Kanal { $channel }. Wenn du ihn lesen kannst, funktioniert der Kanal.

## Slack: die Kontextzeile unter der Nachricht.

alert-context = Workspace { $workspace } · { $status } · { $time }
alert-context-test = Testalarm · { $time }

## E-Mail: Betreff, Angaben und Fußzeile.

alert-email-subject = [Quota Sentinel] { $title } – Workspace { $workspace }
alert-email-subject-test = [Quota Sentinel] { $title }
alert-label-workspace = Workspace: { $workspace }
alert-label-status = Status: { $status }
alert-label-time = Zeitpunkt: { $time }
alert-email-footer = Gesendet von Quota Sentinel über den Alarmkanal { $channel }.
