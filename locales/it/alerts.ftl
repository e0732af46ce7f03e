## Quota Sentinel: ciò che i canali di avviso (webhook, Slack, email) aggiungono a una notifica (italiano).
##
## Argomenti:
##   $channel    l'id di un canale (ops)
##   $workspace  l'id di un workspace (acme)
##   $status     il nome di uno stato, già tradotto (quota superata)
##   $time       data e ora nel fuso orario del canale (2026-11-30 14:05:09 CET)
##   $title      il titolo della notifica, già tradotto

## La notifica di POST /api/admin/channels/{id}/test.

alert-test =
    .title = Avviso di prova da Quota Sentinel
    .body = Questo è un avviso di prova per il canale { $channel }. Se riesci a leggerlo, il canale funziona.

## Slack: la riga di contesto sotto il messaggio.

alert-context = Workspace { $workspace } · { $status } · { $time }
alert-context-test = Avviso di prova · { $time }

## Email: oggetto, dettagli e piè di pagina.

alert-email-subject = [Quota Sentinel] { $title } – workspace { $workspace }
alert-email-subject-test = [Quota Sentinel] { $title }
alert-label-workspace = Workspace: { $workspace }
alert-label-status = Stato: { $status }
alert-label-time = Ora: { $time }
alert-email-footer = Inviato da Quota Sentinel tramite il canale di avviso { $channel }.
