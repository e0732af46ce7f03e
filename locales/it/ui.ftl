# Errori mostrati come ultimo errore di un workspace (report di stato, tabella admin).
error-workspace-limit = Una chiamata è stata rifiutata: il workspace ha raggiunto il limite di { $limit }. Riprova tra { $retry_after ->
        [one] { $retry_after } secondo
       *[other] { $retry_after } secondi
    }.
error-workspace-limit-day = Una chiamata è stata rifiutata: il workspace ha raggiunto il limite di { $limit }. Si azzera alle { $resets_at }, tra { $wait }.
error-workspace-limit-month = Una chiamata è stata rifiutata: il workspace ha raggiunto il limite di { $limit }. Si azzera il primo del mese alle { $resets_at }, tra { $wait }.
error-upstream-timeout = OpenAI non ha risposto in tempo.
error-upstream-unreachable = Impossibile raggiungere OpenAI.
error-upstream-cut = La connessione a OpenAI si è interrotta durante lo streaming di una risposta.
error-upstream-rate-limited = OpenAI ha limitato la frequenza delle richieste dell'account.
error-upstream-quota = OpenAI ha rifiutato la chiamata: l'account ha esaurito il credito.
error-upstream-server = OpenAI ha risposto con un errore del server ({ $status }).
error-quota-state-unavailable = Una chiamata è stata rifiutata: lo stato delle quote condiviso dalle istanze del gateway (Redis) non ha risposto e questo spazio di lavoro ha un budget in USD. Le chiamate riprendono quando risponde.

## ─── Interfaccia web ─────────────────────────────────────────────────────────────

app-name = Quota Sentinel
language-name = Italiano
language-label = Lingua
loading = Caricamento…

number-decimal-separator = ,
number-group-separator = .
money-usd = { $amount } $
date-short-format = %d/%m
datetime-format = %d/%m/%Y %H:%M UTC
time-ago-seconds = { $count ->
    [one] 1 secondo fa
   *[other] { $count } secondi fa
}
time-ago-minutes = { $count ->
    [one] 1 minuto fa
   *[other] { $count } minuti fa
}
time-ago-hours = { $count ->
    [one] 1 ora fa
   *[other] { $count } ore fa
}
time-ago-days = { $count ->
    [one] 1 giorno fa
   *[other] { $count } giorni fa
}

## Durate (un'attesa, mostrata come $wait): sotto il minuto in secondi, poi minuti, poi ore e
## minuti. Ogni numero passa per una scelta plurale, anche dove le parole non cambiano.

duration-seconds = { $seconds ->
        [one] { $seconds } secondo
       *[other] { $seconds } secondi
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

nav-label = Principale
nav-workspace = Workspace
nav-admin = Tutti i workspace
nav-sign-out = Esci
connection-live = In diretta
connection-connecting = Connessione…
connection-reconnecting = Riconnessione…
connection-offline = Non in linea
stale-data = Questi dati potrebbero non essere aggiornati: la connessione al server è interrotta.

login-title = Accedi
login-intro = Incolla la chiave di un workspace per vederlo, oppure la chiave di amministrazione per vederli tutti.
login-key-label = Chiave
login-key-placeholder = qs_… o la chiave di amministrazione
login-key-help = La chiave viene inviata una sola volta; poi il browser conserva solo un cookie di sessione.
login-submit = Accedi
login-error-empty = Incolla prima una chiave.
login-error-invalid = Questa chiave non è valida.
login-error-failed = Accesso non riuscito. Riprova.
login-error-blocked = Dal tuo indirizzo sono arrivate troppe chiavi errate. Attendi un minuto, poi riprova.

forbidden-title = Accesso non consentito
forbidden-body = Questa pagina è riservata agli amministratori. Accedi con la chiave di amministrazione per aprirla.
forbidden-home = Vai alla pagina iniziale
not-found-title = Pagina non trovata
load-error-title = Impossibile caricare la pagina
load-error-body = Il server non ha risposto come previsto. Ricarica la pagina per riprovare.
load-error-reference = Riferimento per l'amministratore: { $reference }

status-label-normal = Normale
status-label-warning = Attenzione
status-label-degraded = Degradato
status-label-rate_limited = Limitato
status-label-quota_exceeded = Quota esaurita

banner-title-rate_limited = Le chiamate sono limitate
banner-title-quota_exceeded = Quota esaurita: le chiamate vengono rifiutate
banner-title-degraded = OpenAI ha dei problemi
banner-title-normal = Tutto a posto
banner-title-warning = Vicino a un limite
banner-scope = Di chi è il limite:
banner-scope-workspace = il limite di questo workspace.
banner-scope-account = il limite dell'account OpenAI, condiviso da tutti i workspace.
banner-actions = Cosa fare
banner-retry-in = { $seconds ->
    [one] Si potrà riprovare tra 1 secondo.
   *[other] Si potrà riprovare tra { $seconds } secondi.
}
banner-retry-in-wait = Si potrà riprovare tra { $wait }.
banner-retry-now = Ora si può riprovare.

usage-title = Utilizzo
usage-label-requests_per_minute = Richieste al minuto
usage-label-requests_per_day = Richieste oggi
usage-label-tokens_per_minute = Token al minuto
usage-label-tokens_per_day = Token oggi
usage-label-budget_usd_per_day = Spesa di oggi
usage-label-budget_usd_per_month = Spesa del mese
usage-of-limit = { $used } su { $limit }
usage-no-limit = { $used } (nessun limite)
usage-state-warning = ⚠ vicino al limite
usage-state-full = ⊘ limite raggiunto
usage-warning-mark = Soglia di avviso
forecast-runs-out = A questo ritmo si esaurisce alle { $runs_out_at }, prima di azzerarsi alle { $resets_at }.
forecast-lasts = A questo ritmo dura fino all'azzeramento delle { $resets_at }.

## Prossimi azzeramenti e passaggi a modelli più economici (pagina del workspace, pagina di dettaglio di un workspace).
# $at è un'ora locale nel fuso orario del gateway: 00:00 (l'azzeramento giornaliero), 2024-06-01 00:00 (quello mensile).
resets-day = Prossimo azzeramento dei limiti giornalieri: { $at }
resets-month = Prossimo azzeramento del limite mensile: { $at }
resets-zone = Orari nel fuso orario del gateway.
downgrade-title = Modelli più economici in uso
# $from e $to sono nomi di modelli; $percent una quota del budget in USD, già formattata (90).
downgrade-active = Le chiamate a { $from } ora usano { $to }: è stato usato il { $percent }% del budget in USD.

upstream-title = Margine OpenAI
upstream-help = Quanto resta all'account OpenAI nella finestra di rate limit corrente, condivisa da tutti i workspace.
upstream-none = OpenAI non ha ancora indicato alcun margine.
upstream-requests = Richieste rimaste
upstream-tokens = Token rimasti
upstream-remaining-of = { $remaining } su { $limit }
upstream-unknown = sconosciuto
upstream-observed = Ultimo rilevamento

breakdown-title = Utilizzo di oggi per obiettivo e attività
breakdown-by-goal = Per obiettivo
breakdown-by-task = Per attività
usage-table-key = Nome
usage-table-requests = Richieste
usage-table-tokens = Token
usage-table-cost = Costo
usage-table-empty = Nessuna chiamata oggi.
usage-table-untagged = (senza etichetta)

notifications-title = Notifiche recenti
notifications-empty = Ancora nessuna notifica.
level-info = Informazione
level-warning = Avviso
level-error = Errore
toasts-label = Notifiche
toast-close = Chiudi la notifica
toast-count = { $count ->
    [one] una volta
   *[other] ×{ $count }
}
toast-more = { $count ->
    [one] +{ $count } altra notifica
   *[other] +{ $count } altre notifiche
}
toast-dismiss-all = Chiudi tutte

overview-title = Panoramica
overview-account = Account OpenAI
overview-spend = Spesa
overview-spend-today = Oggi, tutti i workspace
overview-spend-month = Questo mese, tutti i workspace
overview-of-budget = su { $budget }
overview-account-forecast = Budget dell'account, { $limit }: { $forecast }
overview-top-spend = Spesa più alta oggi
overview-no-spend = Oggi nessuna spesa.
overview-burn = In via di esaurire un limite
overview-no-burn = Nessun workspace esaurirà un limite prima dell'azzeramento.
overview-latest-alerts = Ultimi avvisi
nav-audit = Registro di controllo
audit-title = Registro di controllo
audit-export = Esporta CSV
audit-col-at = Quando
audit-col-actor = Chi
audit-col-address = Da
audit-col-action = Azione
audit-col-target = Su
audit-col-change = Modifica
audit-empty = Ancora nessuna azione di amministrazione.
audit-older = Voci precedenti
audit-failed = Impossibile caricare le voci precedenti. Riprova.
rules-title = Regole di avviso
rules-thresholds = Avvisa a queste quote di ogni limite giornaliero e mensile (%)
rules-thresholds-help = Ogni avviso viene inviato una volta per periodo. Lascia vuoto per nessun avviso di soglia.
rules-soft = Solo avvisare, mai rifiutare
rules-save = Salva le regole di avviso
rules-saved = Salvato: le regole valgono da subito.
rules-failed = Non salvato.
rules-invalid-thresholds = Indica fino a 10 percentuali tra 0 e 100, separate da virgole.

## Limiti e criteri (pagina di dettaglio di un workspace, amministrazione).
policies-title = Limiti e criteri
policies-intro = Le modifiche valgono dalla chiamata successiva, senza riavvio, e restano dopo i riavvii.
policies-limits = Limiti (vuoto o 0: nessun limite)
policies-limit-requests_per_minute = Richieste al minuto
policies-limit-requests_per_day = Richieste al giorno
policies-limit-tokens_per_minute = Token al minuto
policies-limit-tokens_per_day = Token al giorno
policies-limit-budget_usd_per_day = Budget giornaliero (USD)
policies-limit-budget_usd_per_month = Budget mensile (USD)
policies-no-limit = nessun limite
policies-warning_at = Soglia di avviso (% di ogni limite)
policies-priority_shares = Quote per priorità (% di ogni limite)
policies-share-optional = Chiamate opzionali fino a
policies-share-normal = Chiamate normali fino a
policies-shares-help = Le chiamate con X-Quota-Priority: optional o normal vengono rifiutate a partire da queste quote; quelle critiche e quelle senza l'intestazione solo al limite. Vuoto: opzionali fino alla soglia di avviso, normali fino al 95%.
policies-downgrade = Passaggi a modelli più economici
policies-downgrade-help = Da una quota del budget in USD (del giorno o del mese, quella più avanti), le chiamate a un modello ne usano un altro.
policies-downgrade-from = Chiamate al modello
policies-downgrade-to = usano il modello
policies-downgrade-at = da (% del budget)
policies-downgrade-add = Aggiungi una regola
policies-downgrade-remove = Rimuovi questa regola
policies-downgrade-empty = Nessuna regola di passaggio.
policies-resets-retries = Azzeramenti e nuovi tentativi
policies-upstream_retries = Nuovi tentativi quando OpenAI limita una chiamata (0–5)
policies-reset_daily_at = Ora dell'azzeramento giornaliero (HH:MM, ora del gateway)
policies-reset_monthly_on = Giorno dell'azzeramento mensile (1–31)
policies-reset-help = I limiti giornalieri si azzerano a quest'ora, quello mensile in questo giorno a quest'ora (un mese più corto nel suo ultimo giorno).
policies-save = Salva limiti e criteri
policies-saving = Salvataggio…
policies-saved = Salvato: i nuovi limiti e criteri valgono da subito.
policies-failed = Non salvato.
# $field è l'etichetta di un campo qui sopra, $rule la regola che il suo valore viola (un messaggio limit-rule-…).
policies-invalid = { $field }: { $rule }
policies-rule-count = deve essere un numero intero da 0 in su (0 o vuoto: nessun limite).

## Le regole di limiti e criteri, indicate quando un valore ne viola una (il modulo di
## amministrazione; i client dell'API che le mostrano nella lingua del lettore). Ognuna segue il nome di un campo e due punti.
limit-rule-budget = deve essere un importo in USD da 0 in su (0: nessun budget).
limit-rule-warning_at = deve essere una quota del limite oltre lo 0% e al massimo il 100%, ad es. 80%.
limit-rule-alert_thresholds = devono essere al massimo 10 quote oltre lo 0% e al massimo il 100%, ad es. 50, 80, 95, 100%.
limit-rule-alert_thresholds_by_limit = deve assegnare ai limiti giornalieri e mensili (quelli al minuto non hanno soglie) al massimo 10 quote ciascuno, oltre lo 0% e al massimo il 100%.
limit-rule-priority_shares = la quota opzionale e quella normale devono essere oltre lo 0% e al massimo il 100%, e quella opzionale non oltre quella normale (vuoto: opzionale alla soglia di avviso, normale al 95%).
limit-rule-downgrade = devono essere al massimo 20 regole, ognuna con due nomi di modello diversi e una quota del budget oltre lo 0% e al massimo il 100%, e ogni modello sostituito da una regola al massimo, ad es. gpt-4o a gpt-4o-mini al 90%.
limit-rule-upstream_retries = deve essere un numero intero di tentativi da 0 a 5.
limit-rule-reset_daily_at = deve essere un'ora locale HH:MM (24 ore), ad es. 06:00.
limit-rule-reset_monthly_on = deve essere un giorno del mese da 1 a 31 (un mese più corto si azzera nel suo ultimo giorno).
nav-channels = Canali di avviso
channels-title = Canali di avviso
channels-intro = Gli avvisi raggiungono le persone dove sono: un webhook, una chat di team o una casella di posta. Ogni canale riceve i livelli impostati, nella propria lingua e fuso orario.
channels-empty = Ancora nessun canale: gli avvisi raggiungono solo le pagine aperte.
channels-add = Aggiungi canale
channels-id = Identificativo (lettere, cifre, - e _)
channels-kind = Tipo
channels-url = URL
channels-to = Indirizzi (separati da virgole)
channels-levels = Livelli
channels-workspaces = Workspace
channels-all-workspaces = Tutti i workspace
channels-locale = Lingua
channels-target = Invia a
channels-origin = Definito in
channels-origin-file = il file di configurazione
channels-origin-api = questa pagina
channels-test = Invia un avviso di prova
channels-test-queued = Avviso di prova in coda.
channels-test-failed = Impossibile mettere in coda l'avviso di prova.
channels-log = Registro delle consegne
channels-log-empty = Ancora nulla consegnato.
channels-log-failed = Impossibile caricare il registro delle consegne.
channels-delete = Elimina
channels-delete-question = Eliminare questo canale? Gli avvisi in attesa per esso vengono abbandonati.
channels-delete-failed = Impossibile eliminare il canale.
channels-added = Canale aggiunto.
channels-add-failed = Non aggiunto.
channels-secret-once = Il segreto di firma del webhook, mostrato solo ora: copialo nel ricevitore.
channel-kind-webhook = Webhook
channel-kind-slack = Compatibile con Slack
channel-kind-email = Email
delivery-attempt = Tentativo
delivery-outcome = Esito
delivery-reply = Risposta
delivery-latency = Durata
delivery-ms = { $ms } ms
delivery-delivered = Consegnato
delivery-will_retry = Verrà ritentato
delivery-gave_up = Abbandonato
admin-title = Tutti i workspace
admin-filter = Filtra
admin-filter-placeholder = Nome o id del workspace
admin-filter-status = Stato
admin-filter-any = Qualsiasi stato
admin-empty = Nessun workspace corrisponde.
admin-col-workspace = Workspace
admin-col-status = Stato
admin-col-requests_day = Richieste oggi
admin-col-tokens_day = Token oggi
admin-col-spend_day = Spesa di oggi
admin-col-spend_month = Spesa del mese
admin-col-last_error = Ultimo errore
detail-back = ← Tutti i workspace
history-title = Andamento
chart-hourly-requests = Richieste per ora (ultime 24 ore)
chart-hourly-tokens = Token per ora (ultime 24 ore)
chart-hourly-cost = Costo per ora (ultime 24 ore)
chart-daily-requests = Richieste al giorno (ultimi 30 giorni)
chart-daily-tokens = Token al giorno (ultimi 30 giorni)
chart-daily-cost = Costo al giorno (ultimi 30 giorni)
chart-summary = Totale: { $total }
reset-button = Azzera lo stato della quota
reset-confirm-question = Azzerare contatori e stati di questo workspace, compreso quello dell'account? L'operazione non si può annullare.
reset-confirm-yes = Sì, azzera
reset-confirm-no = Annulla
reset-done = Il workspace è stato azzerato.
reset-failed = L'azzeramento non è riuscito.

# Shown on every page in demo mode (quota-sentinel demo).
demo-notice = Demo: OpenAI simulato e traffico sintetico — niente qui è utilizzo reale.

## Primo avvio (/setup), raggiunto dal link monouso che il gateway stampa al primo avvio.
setup-title = Configura Quota Sentinel
setup-intro = Crea il primo workspace. La sua chiave è ciò che le tue applicazioni inviano al posto della chiave OpenAI; il gateway aggiunge quella vera.
setup-id-label = Id del workspace
setup-id-help = Lettere, cifre, - e _ (fino a 64). Identifica il workspace nell'API e nei log.
setup-name-label = Nome visualizzato (facoltativo)
setup-submit = Crea il workspace e la sua chiave
setup-error-id = L'id può contenere solo lettere, cifre, - e _, fino a 64 caratteri.
setup-error-exists = Esiste già un workspace con questo id.
setup-error-session = La sessione di configurazione è terminata. Riavvia il gateway per un nuovo link.
setup-error-failed = Non è stato possibile creare il workspace. Riprova.
setup-done-title = Il workspace { $name } è pronto
setup-done-env = Imposta queste due variabili dove gira la tua applicazione; ogni SDK di OpenAI le legge:
setup-done-key-once = La chiave è mostrata solo questa volta: copiala ora.
setup-done-admin = Questa sessione di configurazione termina al riavvio del gateway. Per mantenere l'accesso da amministratore, imposta QUOTA_ADMIN_KEY prima del prossimo avvio.
setup-open-workspace = Apri il workspace
setup-closed-title = Questo link di configurazione non funziona più
setup-closed-used = È già stato usato: un link di configurazione funziona una volta sola.
setup-closed-expired = È scaduto: un link di configurazione funziona per 15 minuti.
setup-closed-invalid = Non è il link di configurazione attuale di questo gateway.
setup-closed-next = Finché il gateway non ha workspace né chiave di amministrazione, stampa un nuovo link a ogni avvio. Oppure accedi con una chiave.
setup-closed-sign-in = Accedi con una chiave

# Workspace list paging
admin-paging = Pagine dei workspace
admin-page-range = { $from }–{ $to } di { $total }
admin-page-previous = Precedente
admin-page-next = Successiva
admin-page-loading = Caricamento…
admin-page-failed = Impossibile caricare i workspace. Riprova.
