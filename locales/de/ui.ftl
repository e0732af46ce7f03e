# Fehler, die als letzter Fehler eines Workspaces angezeigt werden (Statusberichte, Admin-Tabelle).
error-workspace-limit = Ein Aufruf wurde abgelehnt: Der Workspace hat sein Limit von { $limit } erreicht. Erneut versuchen in { $retry_after ->
        [one] { $retry_after } Sekunde
       *[other] { $retry_after } Sekunden
    }.
error-workspace-limit-day = Ein Aufruf wurde abgelehnt: Der Workspace hat sein Limit von { $limit } erreicht. Es wird um { $resets_at } Uhr zurückgesetzt, in { $wait }.
error-workspace-limit-month = Ein Aufruf wurde abgelehnt: Der Workspace hat sein Limit von { $limit } erreicht. Es wird am Monatsersten um { $resets_at } Uhr zurückgesetzt, in { $wait }.
error-upstream-timeout = OpenAI hat nicht rechtzeitig geantwortet.
error-upstream-unreachable = OpenAI war nicht erreichbar.
error-upstream-cut = Die Verbindung zu OpenAI brach ab, während eine Antwort gestreamt wurde.
error-upstream-rate-limited = OpenAI hat die Anfragerate des Kontos begrenzt.
error-upstream-quota = OpenAI hat den Aufruf abgelehnt: Das Konto hat kein Guthaben mehr.
error-upstream-server = OpenAI hat mit einem Serverfehler geantwortet ({ $status }).
error-quota-state-unavailable = Ein Aufruf wurde abgelehnt: Der Kontingentstatus, den die Gateway-Instanzen teilen (Redis), antwortete nicht, und dieser Arbeitsbereich hat ein USD-Budget. Aufrufe laufen wieder, sobald er antwortet.

## ─── Weboberfläche ───────────────────────────────────────────────────────────────

app-name = Quota Sentinel
language-name = Deutsch
language-label = Sprache
loading = Wird geladen…

number-decimal-separator = ,
number-group-separator = .
money-usd = { $amount } $
date-short-format = %d.%m.
datetime-format = %d.%m.%Y %H:%M UTC
time-ago-seconds = { $count ->
    [one] vor 1 Sekunde
   *[other] vor { $count } Sekunden
}
time-ago-minutes = { $count ->
    [one] vor 1 Minute
   *[other] vor { $count } Minuten
}
time-ago-hours = { $count ->
    [one] vor 1 Stunde
   *[other] vor { $count } Stunden
}
time-ago-days = { $count ->
    [one] vor 1 Tag
   *[other] vor { $count } Tagen
}

## Dauern (eine Wartezeit, angezeigt als $wait): unter einer Minute in Sekunden, dann Minuten, dann
## Stunden und Minuten. Jede Zahl läuft über eine Pluralauswahl, auch wo die Wörter gleich bleiben.

duration-seconds = { $seconds ->
        [one] { $seconds } Sekunde
       *[other] { $seconds } Sekunden
    }
duration-minutes = { $minutes ->
        [one] { $minutes } Min.
       *[other] { $minutes } Min.
    }
duration-hours = { $hours ->
        [one] { $hours } Std.
       *[other] { $hours } Std.
    }
duration-hours-minutes = { $hours ->
        [one] { $hours } Std.
       *[other] { $hours } Std.
    } { $minutes ->
        [one] { $minutes } Min.
       *[other] { $minutes } Min.
    }

nav-label = Hauptnavigation
nav-workspace = Workspace
nav-admin = Alle Workspaces
nav-sign-out = Abmelden
connection-live = Live
connection-connecting = Verbinde…
connection-reconnecting = Verbinde erneut…
connection-offline = Offline
stale-data = Diese Daten sind möglicherweise veraltet: Die Verbindung zum Server ist unterbrochen.

login-title = Anmelden
login-intro = Füge einen Workspace-Schlüssel ein, um deinen Workspace zu sehen, oder den Admin-Schlüssel für alle Workspaces.
login-key-label = Schlüssel
login-key-placeholder = qs_… oder der Admin-Schlüssel
login-key-help = Der Schlüssel wird einmal gesendet; danach behält der Browser nur ein Sitzungs-Cookie.
login-submit = Anmelden
login-error-empty = Bitte zuerst einen Schlüssel einfügen.
login-error-invalid = Dieser Schlüssel ist ungültig.
login-error-failed = Die Anmeldung ist fehlgeschlagen. Bitte erneut versuchen.
login-error-blocked = Von deiner Adresse kamen zu viele falsche Schlüssel. Warte eine Minute und versuche es dann erneut.

forbidden-title = Kein Zugriff
forbidden-body = Diese Seite ist für Administratoren. Melde dich mit dem Admin-Schlüssel an, um sie zu öffnen.
forbidden-home = Zur Startseite
not-found-title = Seite nicht gefunden
load-error-title = Die Seite konnte nicht geladen werden
load-error-body = Der Server hat nicht wie erwartet geantwortet. Lade die Seite neu, um es erneut zu versuchen.
load-error-reference = Referenz für den Administrator: { $reference }

status-label-normal = Normal
status-label-warning = Warnung
status-label-degraded = Beeinträchtigt
status-label-rate_limited = Gedrosselt
status-label-quota_exceeded = Kontingent erschöpft

banner-title-rate_limited = Aufrufe werden gedrosselt
banner-title-quota_exceeded = Kontingent erschöpft: Aufrufe werden abgelehnt
banner-title-degraded = OpenAI hat Probleme
banner-title-normal = Alles in Ordnung
banner-title-warning = Ein Limit ist fast erreicht
banner-scope = Wessen Limit:
banner-scope-workspace = das eigene Limit dieses Workspaces.
banner-scope-account = das Limit des OpenAI-Kontos, das sich alle Workspaces teilen.
banner-actions = Was zu tun ist
banner-retry-in = { $seconds ->
    [one] Aufrufe sind in 1 Sekunde wieder möglich.
   *[other] Aufrufe sind in { $seconds } Sekunden wieder möglich.
}
banner-retry-in-wait = Aufrufe sind in { $wait } wieder möglich.
banner-retry-now = Aufrufe sind jetzt wieder möglich.

usage-title = Nutzung
usage-label-requests_per_minute = Anfragen pro Minute
usage-label-requests_per_day = Anfragen heute
usage-label-tokens_per_minute = Tokens pro Minute
usage-label-tokens_per_day = Tokens heute
usage-label-budget_usd_per_day = Ausgaben heute
usage-label-budget_usd_per_month = Ausgaben diesen Monat
usage-of-limit = { $used } von { $limit }
usage-no-limit = { $used } (kein Limit)
usage-state-warning = ⚠ nahe am Limit
usage-state-full = ⊘ Limit erreicht
usage-warning-mark = Warnschwelle
forecast-runs-out = Bei diesem Verbrauch ist es um { $runs_out_at } aufgebraucht, vor dem Zurücksetzen um { $resets_at }.
forecast-lasts = Bei diesem Verbrauch reicht es bis zum Zurücksetzen um { $resets_at }.

## Nächstes Zurücksetzen und Modell-Herabstufungen (Workspace-Seite, Detailseite eines Workspace).
# $at ist eine Ortszeit in der Zeitzone des Gateways: 00:00 (das tägliche Zurücksetzen), 2024-06-01 00:00 (das monatliche).
resets-day = Nächstes Zurücksetzen der Tageslimits: { $at }
resets-month = Nächstes Zurücksetzen des Monatslimits: { $at }
resets-zone = Zeiten in der Zeitzone des Gateways.
downgrade-title = Günstigere Modelle im Einsatz
# $from und $to sind Modellnamen; $percent ein Anteil des USD-Budgets, schon formatiert (90).
downgrade-active = Aufrufe für { $from } verwenden jetzt { $to }: { $percent } % des USD-Budgets sind verbraucht.

upstream-title = OpenAI-Spielraum
upstream-help = Was dem OpenAI-Konto im aktuellen Rate-Limit-Fenster bleibt; alle Workspaces teilen es sich.
upstream-none = OpenAI hat noch keinen Spielraum gemeldet.
upstream-requests = Verbleibende Anfragen
upstream-tokens = Verbleibende Tokens
upstream-remaining-of = { $remaining } von { $limit }
upstream-unknown = unbekannt
upstream-observed = Zuletzt gesehen

breakdown-title = Heutige Nutzung nach Ziel und Aufgabe
breakdown-by-goal = Nach Ziel
breakdown-by-task = Nach Aufgabe
usage-table-key = Name
usage-table-requests = Anfragen
usage-table-tokens = Tokens
usage-table-cost = Kosten
usage-table-empty = Heute noch keine Aufrufe.
usage-table-untagged = (ohne Kennzeichnung)

notifications-title = Letzte Benachrichtigungen
notifications-empty = Noch keine Benachrichtigungen.
level-info = Information
level-warning = Warnung
level-error = Fehler
toasts-label = Benachrichtigungen
toast-close = Benachrichtigung schließen
toast-count = { $count ->
    [one] einmal
   *[other] ×{ $count }
}
toast-more = { $count ->
    [one] +{ $count } weitere Benachrichtigung
   *[other] +{ $count } weitere Benachrichtigungen
}
toast-dismiss-all = Alle schließen

overview-title = Übersicht
overview-account = OpenAI-Konto
overview-spend = Ausgaben
overview-spend-today = Heute, alle Workspaces
overview-spend-month = Diesen Monat, alle Workspaces
overview-of-budget = von { $budget }
overview-account-forecast = Kontobudget, { $limit }: { $forecast }
overview-top-spend = Höchste Ausgaben heute
overview-no-spend = Heute noch keine Ausgaben.
overview-burn = Auf dem Weg, ein Limit aufzubrauchen
overview-no-burn = Kein Workspace wird ein Limit vor dem Zurücksetzen aufbrauchen.
overview-latest-alerts = Neueste Warnungen
nav-audit = Prüfprotokoll
audit-title = Prüfprotokoll
audit-export = Als CSV exportieren
audit-col-at = Wann
audit-col-actor = Wer
audit-col-address = Von
audit-col-action = Aktion
audit-col-target = Betrifft
audit-col-change = Änderung
audit-empty = Noch keine Admin-Aktion.
audit-older = Ältere Einträge
audit-failed = Ältere Einträge konnten nicht geladen werden. Bitte erneut versuchen.
rules-title = Warnregeln
rules-thresholds = Warnen bei diesen Anteilen jedes Tages- und Monatslimits (%)
rules-thresholds-help = Jede Warnung wird einmal pro Zeitraum gesendet. Leer lassen für keine Schwellenwarnungen.
rules-soft = Nur warnen, nie ablehnen
rules-save = Warnregeln speichern
rules-saved = Gespeichert: die Regeln gelten ab sofort.
rules-failed = Nicht gespeichert.
rules-invalid-thresholds = Bis zu 10 Prozentwerte zwischen 0 und 100 angeben, durch Kommas getrennt.

## Limits und Richtlinien (Detailseite eines Workspace, Admin).
policies-title = Limits und Richtlinien
policies-intro = Änderungen gelten ab dem nächsten Aufruf, ohne Neustart, und bleiben über Neustarts erhalten.
policies-limits = Limits (leer oder 0: kein Limit)
policies-limit-requests_per_minute = Anfragen pro Minute
policies-limit-requests_per_day = Anfragen pro Tag
policies-limit-tokens_per_minute = Tokens pro Minute
policies-limit-tokens_per_day = Tokens pro Tag
policies-limit-budget_usd_per_day = Budget pro Tag (USD)
policies-limit-budget_usd_per_month = Budget pro Monat (USD)
policies-no-limit = kein Limit
policies-warning_at = Warnschwelle (% jedes Limits)
policies-priority_shares = Prioritätsanteile (% jedes Limits)
policies-share-optional = Optionale Aufrufe bis
policies-share-normal = Normale Aufrufe bis
policies-shares-help = Aufrufe mit X-Quota-Priority: optional oder normal werden ab diesen Anteilen abgelehnt; kritische Aufrufe und Aufrufe ohne den Header erst am Limit. Leer: optionale Aufrufe bis zur Warnschwelle, normale bis 95 %.
policies-downgrade = Modell-Herabstufungen
policies-downgrade-help = Ab einem Anteil des USD-Budgets (des Tages oder des Monats, je nachdem, welcher weiter ist) verwenden Aufrufe eines Modells ein anderes.
policies-downgrade-from = Aufrufe für Modell
policies-downgrade-to = verwenden Modell
policies-downgrade-at = ab (% des Budgets)
policies-downgrade-add = Regel hinzufügen
policies-downgrade-remove = Diese Regel entfernen
policies-downgrade-empty = Keine Herabstufungsregel.
policies-resets-retries = Zurücksetzen und Wiederholungen
policies-upstream_retries = Wiederholungen, wenn OpenAI einen Aufruf drosselt (0–5)
policies-reset_daily_at = Tägliche Rücksetzzeit (HH:MM, Gateway-Zeit)
policies-reset_monthly_on = Monatlicher Rücksetztag (1–31)
policies-reset-help = Die Tageslimits werden zu dieser Uhrzeit zurückgesetzt, das Monatslimit an diesem Tag zu dieser Uhrzeit (ein kürzerer Monat an seinem letzten Tag).
policies-save = Limits und Richtlinien speichern
policies-saving = Wird gespeichert…
policies-saved = Gespeichert: die neuen Limits und Richtlinien gelten ab sofort.
policies-failed = Nicht gespeichert.
# $field ist die Beschriftung eines Feldes von oben, $rule die Regel, die sein Wert verletzt (eine limit-rule-…-Meldung).
policies-invalid = { $field }: { $rule }
policies-rule-count = muss eine ganze Zahl ab 0 sein (0 oder leer: kein Limit).

## Die Regeln der Limits und Richtlinien, genannt, wenn ein Wert eine verletzt (das Admin-Formular;
## API-Clients, die sie in der Sprache des Lesers zeigen). Jede folgt auf einen Feldnamen und einen Doppelpunkt.
limit-rule-budget = muss ein Betrag in USD ab 0 sein (0: kein Budget).
limit-rule-warning_at = muss ein Anteil des Limits über 0 % und höchstens 100 % sein, z. B. 80 %.
limit-rule-alert_thresholds = müssen höchstens 10 Anteile über 0 % und höchstens 100 % sein, z. B. 50, 80, 95, 100 %.
limit-rule-alert_thresholds_by_limit = muss Tages- und Monatslimits (Minutenlimits haben keine Schwellen) je höchstens 10 Anteile über 0 % und höchstens 100 % zuordnen.
limit-rule-priority_shares = der optionale und der normale Anteil müssen je über 0 % und höchstens 100 % liegen, der optionale höchstens beim normalen (leer: optional bei der Warnschwelle, normal bei 95 %).
limit-rule-downgrade = müssen höchstens 20 Regeln sein, jede mit zwei verschiedenen Modellnamen und einem Anteil des Budgets über 0 % und höchstens 100 %, jedes Modell durch höchstens eine Regel herabgestuft, z. B. gpt-4o zu gpt-4o-mini bei 90 %.
limit-rule-upstream_retries = muss eine ganze Zahl von Wiederholungen von 0 bis 5 sein.
limit-rule-reset_daily_at = muss eine Ortszeit HH:MM (24 Stunden) sein, z. B. 06:00.
limit-rule-reset_monthly_on = muss ein Tag des Monats von 1 bis 31 sein (ein kürzerer Monat wird an seinem letzten Tag zurückgesetzt).
nav-channels = Warnkanäle
channels-title = Warnkanäle
channels-intro = Warnungen erreichen die Menschen dort, wo sie sind: per Webhook, im Team-Chat oder im Postfach. Jeder Kanal erhält die eingestellten Stufen, in seiner eigenen Sprache und Zeitzone.
channels-empty = Noch kein Kanal: Warnungen erreichen nur geöffnete Seiten.
channels-add = Kanal hinzufügen
channels-id = Kennung (Buchstaben, Ziffern, - und _)
channels-kind = Art
channels-url = URL
channels-to = Adressen (durch Kommas getrennt)
channels-levels = Stufen
channels-workspaces = Workspaces
channels-all-workspaces = Alle Workspaces
channels-locale = Sprache
channels-target = Sendet an
channels-origin = Festgelegt in
channels-origin-file = der Konfigurationsdatei
channels-origin-api = dieser Seite
channels-test = Testwarnung senden
channels-test-queued = Testwarnung eingereiht.
channels-test-failed = Die Testwarnung konnte nicht eingereiht werden.
channels-log = Zustellprotokoll
channels-log-empty = Noch nichts zugestellt.
channels-log-failed = Das Zustellprotokoll konnte nicht geladen werden.
channels-delete = Löschen
channels-delete-question = Diesen Kanal löschen? Wartende Warnungen für ihn werden aufgegeben.
channels-delete-failed = Der Kanal konnte nicht gelöscht werden.
channels-added = Kanal hinzugefügt.
channels-add-failed = Nicht hinzugefügt.
channels-secret-once = Das Signaturgeheimnis des Webhooks, nur jetzt angezeigt: beim Empfänger hinterlegen.
channel-kind-webhook = Webhook
channel-kind-slack = Slack-kompatibel
channel-kind-email = E-Mail
delivery-attempt = Versuch
delivery-outcome = Ergebnis
delivery-reply = Antwort
delivery-latency = Dauer
delivery-ms = { $ms } ms
delivery-delivered = Zugestellt
delivery-will_retry = Wird wiederholt
delivery-gave_up = Aufgegeben
admin-title = Alle Workspaces
admin-filter = Filtern
admin-filter-placeholder = Name oder ID des Workspaces
admin-filter-status = Status
admin-filter-any = Jeder Status
admin-empty = Kein Workspace passt.
admin-col-workspace = Workspace
admin-col-status = Status
admin-col-requests_day = Anfragen heute
admin-col-tokens_day = Tokens heute
admin-col-spend_day = Ausgaben heute
admin-col-spend_month = Ausgaben diesen Monat
admin-col-last_error = Letzter Fehler
detail-back = ← Alle Workspaces
history-title = Verlauf
chart-hourly-requests = Anfragen pro Stunde (letzte 24 Stunden)
chart-hourly-tokens = Tokens pro Stunde (letzte 24 Stunden)
chart-hourly-cost = Kosten pro Stunde (letzte 24 Stunden)
chart-daily-requests = Anfragen pro Tag (letzte 30 Tage)
chart-daily-tokens = Tokens pro Tag (letzte 30 Tage)
chart-daily-cost = Kosten pro Tag (letzte 30 Tage)
chart-summary = Summe: { $total }
reset-button = Kontingentstatus zurücksetzen
reset-confirm-question = Zähler und Status dieses Workspaces zurücksetzen, einschließlich des kontoweiten Status? Das lässt sich nicht rückgängig machen.
reset-confirm-yes = Ja, zurücksetzen
reset-confirm-no = Abbrechen
reset-done = Der Workspace wurde zurückgesetzt.
reset-failed = Das Zurücksetzen ist fehlgeschlagen.

# Shown on every page in demo mode (quota-sentinel demo).
demo-notice = Demo: simuliertes OpenAI und synthetischer Verkehr — nichts hier ist echte Nutzung.

## Erster Start (/setup), erreicht über den Einmal-Link, den das Gateway beim ersten Start ausgibt.
setup-title = Quota Sentinel einrichten
setup-intro = Lege den ersten Workspace an. Sein Schlüssel ist das, was deine Anwendungen statt des OpenAI-Schlüssels senden; das Gateway fügt den echten hinzu.
setup-id-label = Workspace-ID
setup-id-help = Buchstaben, Ziffern, - und _ (bis zu 64). Sie benennt den Workspace in der API und in den Logs.
setup-name-label = Anzeigename (optional)
setup-submit = Workspace und Schlüssel anlegen
setup-error-id = Die ID darf nur Buchstaben, Ziffern, - und _ enthalten, höchstens 64 Zeichen.
setup-error-exists = Ein Workspace mit dieser ID existiert bereits.
setup-error-session = Die Einrichtungssitzung ist beendet. Starte das Gateway neu, um einen neuen Link zu erhalten.
setup-error-failed = Der Workspace konnte nicht angelegt werden. Versuche es noch einmal.
setup-done-title = Workspace { $name } ist bereit
setup-done-env = Setze diese zwei Variablen dort, wo deine Anwendung läuft; jedes OpenAI-SDK liest sie:
setup-done-key-once = Der Schlüssel wird nur dieses eine Mal angezeigt: kopiere ihn jetzt.
setup-done-admin = Diese Einrichtungssitzung endet, wenn das Gateway neu startet. Um Admin-Zugriff zu behalten, setze QUOTA_ADMIN_KEY vor dem nächsten Start.
setup-open-workspace = Workspace öffnen
setup-closed-title = Dieser Einrichtungslink funktioniert nicht mehr
setup-closed-used = Er wurde bereits verwendet: Ein Einrichtungslink funktioniert nur einmal.
setup-closed-expired = Er ist abgelaufen: Ein Einrichtungslink funktioniert 15 Minuten lang.
setup-closed-invalid = Es ist nicht der aktuelle Einrichtungslink dieses Gateways.
setup-closed-next = Solange das Gateway keinen Workspace und keinen Admin-Schlüssel hat, gibt es bei jedem Start einen neuen Link aus. Oder melde dich mit einem Schlüssel an.
setup-closed-sign-in = Mit einem Schlüssel anmelden

# Workspace list paging
admin-paging = Seiten der Workspaces
admin-page-range = { $from }–{ $to } von { $total }
admin-page-previous = Zurück
admin-page-next = Weiter
admin-page-loading = Wird geladen …
admin-page-failed = Die Workspaces konnten nicht geladen werden. Bitte erneut versuchen.
