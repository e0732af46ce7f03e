## Quota Sentinel: Kontingent-Benachrichtigungen, Statusmeldungen und empfohlene Aktionen (Deutsch).
##
## Argumente aus dem Kontingent-Kern:
##   $limit        Wire-Name eines Limits (tokens_per_day); sein Text ist die Nachricht limit-<Name>
##   $resource     requests oder tokens (wird in den Nachrichten selbst ausgewählt)
##   $from         Wire-Name des vorherigen Status (notif-recovered; nicht angezeigt)
##   $status       Wire-Name eines Status; sein Text ist die Nachricht status-name-<Name>
##   $percent      ein ganzzahliger Prozentwert (87)
##   $retry_after  Sekunden, bis ein erneuter Versuch gelingen kann
##   $wait         $retry_after als Dauer in Worten ("45 Sekunden", "21 Std. 1 Min."), beim Anzeigen ergänzt
##   $consecutive  Anzahl aufeinanderfolgender Fehler bei OpenAI
##   $model        ein Modellname
##   $field        der Name eines Limit-Felds, wie er in der Konfiguration steht (warning_at); nicht übersetzen
## Empfohlene Aktionen werden mit den Argumenten der zugehörigen Nachricht gerendert.

## Benachrichtigungen: eine pro Übergangsart, jeweils mit Titel und Text.

notif-warning-near-limit =
    .title = Workspace-Limit fast erreicht
    .body = Dieser Workspace hat { $percent } % seines Limits für { $limit } verbraucht.
notif-warning-upstream-headroom =
    .title = OpenAI-Rate-Limit fast ausgeschöpft
    .body = Vom Rate-Limit des OpenAI-Kontos für { $resource ->
        [requests] Anfragen
       *[tokens] Tokens
    } sind nur noch { $percent } % übrig. Alle Workspaces des Kontos teilen es sich.
notif-rate-limited-workspace =
    .title = Workspace-Rate-Limit erreicht
    .body = Dieser Workspace hat sein Limit für { $limit } erreicht. Aufrufe werden abgelehnt, bis genug Nutzung aus der letzten Minute abgelaufen ist.
notif-rate-limited-upstream =
    .title = Rate-Limit durch OpenAI
    .body = Das OpenAI-Konto begrenzt die Anfragerate des Gateways. Aufrufe werden abgelehnt, bis sein Limit zurückgesetzt wird.
notif-quota-exceeded-workspace =
    .title = Workspace-Limit aufgebraucht
    .body = Dieser Workspace hat sein Limit für { $limit } vollständig aufgebraucht. Aufrufe werden abgelehnt, bis das Limit zu Beginn des nächsten Zeitraums zurückgesetzt wird.
notif-quota-exceeded-account =
    .title = OpenAI-Konto ohne Guthaben
    .body = Das OpenAI-Konto hinter diesem Gateway hat kein Guthaben mehr, daher wird jeder Aufruf jedes Workspaces abgelehnt. Ein Admin muss dem OpenAI-Konto Guthaben hinzufügen und danach den Kontingentstatus in Quota Sentinel zurücksetzen.
notif-degraded =
    .title = Störung bei OpenAI
    .body = Die OpenAI-API ist { $consecutive ->
        [one] einmal
       *[other] { $consecutive }-mal
    } in Folge fehlgeschlagen (Serverfehler, Zeitüberschreitungen oder abgelehnte Verbindungen). Aufrufe können fehlschlagen, bis sie wieder funktioniert.
notif-recovered =
    .title = Wieder normal
    .body = Aufrufe werden wieder normal angenommen.
notif-unpriced-model =
    .title = Modell ohne Preis
    .body = Für das Modell { $model } ist kein Preis hinterlegt, daher werden die Kosten seiner Aufrufe nicht auf Budgets angerechnet.
notif-unpriced-models =
    .title = Modelle ohne Preis
    .body = { $more ->
        [0] Für die Modelle { $models } ist kein Preis hinterlegt, daher werden die Kosten ihrer Aufrufe nicht auf Budgets angerechnet.
        [one] Für die Modelle { $models } und ein weiteres ist kein Preis hinterlegt, daher werden die Kosten ihrer Aufrufe nicht auf Budgets angerechnet.
       *[other] Für die Modelle { $models } und { $more } weitere ist kein Preis hinterlegt, daher werden die Kosten ihrer Aufrufe nicht auf Budgets angerechnet.
    }
notif-stored-limits-invalid =
    .title = Gespeicherte Limits sind ungültig
    .body = Die gespeicherten Limits dieses Workspaces verletzen eine Regel ({ $field }), daher gelten für ihn die Standardlimits, bis sie korrigiert sind.
notif-alert-threshold =
    .title = { $soft ->
        [yes] { $percent } % eines Warnlimits verbraucht
       *[no] { $percent } % eines Workspace-Limits verbraucht
    }
    .body = Dieser Workspace hat { $percent } % seines Limits für { $limit } verbraucht ({ $unit ->
        [usd] { $used } von { $cap } USD
       *[count] { $used } von { $cap }
    }). Es wird um { $resets_at } zurückgesetzt.{ $soft ->
        [yes] { " " }Dieses Limit warnt nur: Aufrufe werden nicht abgelehnt.
       *[no] { "" }
    }
notif-alert-back-under =
    .title = Wieder unter den Warnschwellen
    .body = { $reason ->
        [period_reset] Das Limit für { $limit } wurde für den neuen Zeitraum zurückgesetzt: seine Warnungen (bis { $percent } %) beginnen von vorn.
        [admin_reset] Ein Admin hat die Zähler dieses Workspace zurückgesetzt: die Warnungen des Limits für { $limit } (bis { $percent } %) beginnen von vorn.
       *[limit_raised] Das Limit für { $limit } wurde erhöht: der Verbrauch liegt wieder unter { $percent } % davon.
    }
notif-alert-burn-rate =
    .title = Ein Limit wird bald aufgebraucht sein
    .body = Beim aktuellen Verbrauch ist das Limit für { $limit } ({ $percent } % verbraucht) um { $runs_out_at } aufgebraucht, bevor es um { $resets_at } zurückgesetzt wird.
notif-account-alert-threshold =
    .title = { $percent } % des Kontobudgets verbraucht
    .body = Alle Workspaces zusammen haben { $percent } % des Kontolimits „{ $limit }“ verbraucht ({ $used } von { $cap } USD). Es wird um { $resets_at } zurückgesetzt. Dieses Budget warnt nur: Aufrufe werden nicht abgelehnt.
notif-account-alert-back-under =
    .title = Kontobudget wieder unter den Warnschwellen
    .body = { $reason ->
        [period_reset] Das Kontolimit „{ $limit }“ wurde für den neuen Zeitraum zurückgesetzt: seine Warnungen (bis { $percent } %) beginnen von vorn.
        [admin_reset] Die Warnungen des Kontolimits „{ $limit }“ (bis { $percent } %) beginnen von vorn.
       *[limit_raised] Das Kontolimit „{ $limit }“ wurde erhöht: die Ausgaben liegen wieder unter { $percent } % davon.
    }
notif-account-alert-burn-rate =
    .title = Das Konto wird sein Budget bald aufbrauchen
    .body = Beim aktuellen Verbrauch brauchen alle Workspaces zusammen das Kontolimit „{ $limit }“ ({ $percent } % verbraucht) um { $runs_out_at } auf, bevor es um { $resets_at } zurückgesetzt wird.
notif-status-changed =
    .title = Kontingentstatus geändert
    .body = Der Kontingentstatus ist jetzt: { $status }.

## Statusmeldungen (GET /api/quota/status): eine pro Ursache.

status-normal = Alle Limits haben Spielraum: Aufrufe werden angenommen.
status-warning-near-limit = { $percent } % des Limits für { $limit } sind verbraucht.
status-warning-upstream-headroom = Vom Rate-Limit des OpenAI-Kontos für { $resource ->
        [requests] Anfragen
       *[tokens] Tokens
    } sind nur noch { $percent } % übrig.
status-rate-limited-workspace = Das Limit für { $limit } ist erreicht: Aufrufe werden vorerst abgelehnt.
status-rate-limited-upstream = Das OpenAI-Konto begrenzt die Anfragerate: Aufrufe werden vorerst abgelehnt.
status-quota-exceeded-workspace = Das Limit für { $limit } ist aufgebraucht: Aufrufe werden bis zum Zurücksetzen abgelehnt.
status-quota-exceeded-account = Das OpenAI-Konto hat kein Guthaben mehr: Jeder Aufruf wird abgelehnt, bis ein Admin Guthaben hinzufügt und den Kontingentstatus zurücksetzt.
status-degraded = Die OpenAI-API schlägt fehl ({ $consecutive ->
        [one] { $consecutive } Fehler
       *[other] { $consecutive } Fehler
    } in Folge): Aufrufe können fehlschlagen.
status-other = Der Kontingentstatus ist: { $status }.

## Empfohlene Aktionen.

action-wait-retry = In { $retry_after ->
        [one] { $retry_after } Sekunde
       *[other] { $retry_after } Sekunden
    } erneut versuchen.
action-wait-retry-long = In { $wait } erneut versuchen.
action-retry-later = In Kürze erneut versuchen.
action-wait-period-reset = Warten, bis das Limit zurückgesetzt wird: um Mitternacht (Ortszeit) bei Tageslimits, am Monatsersten bei Monatslimits.
action-raise-limit = Einen Admin bitten, das Limit dieses Workspaces zu erhöhen.
action-reduce-usage = Weniger oder kleinere Anfragen senden, zum Beispiel mit einem niedrigeren max_tokens.
action-check-upstream = Statusseite und Rate-Limits des OpenAI-Kontos prüfen.
action-add-credit = Ein Admin muss dem OpenAI-Konto in dessen Abrechnungseinstellungen Guthaben hinzufügen.
action-reset-after-credit = Sobald das Guthaben hinzugefügt ist, setzt ein Admin den Kontingentstatus in Quota Sentinel zurück.
action-set-model-price = Einen Admin bitten, in der Gateway-Konfiguration einen Preis für dieses Modell hinzuzufügen.
action-fix-stored-limits = Einen Admin bitten, die Limits dieses Workspaces zu korrigieren oder den Workspace in der Gateway-Konfigurationsdatei anzulegen.

## Namen der Limits (für $limit).

limit-requests_per_minute = Anfragen pro Minute
limit-requests_per_day = Anfragen pro Tag
limit-tokens_per_minute = Tokens pro Minute
limit-tokens_per_day = Tokens pro Tag
limit-budget_usd_per_day = Budget pro Tag
limit-budget_usd_per_month = Budget pro Monat

## Namen der Status (für $status).

status-name-normal = normal
status-name-warning = Warnung
status-name-degraded = beeinträchtigt
status-name-rate_limited = ratenbegrenzt
status-name-quota_exceeded = Kontingent überschritten

