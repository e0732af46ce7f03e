## Quota Sentinel: notifiche sulle quote, messaggi di stato e azioni suggerite (italiano).
##
## Argomenti forniti dal core delle quote:
##   $limit        nome wire di un limite (tokens_per_day); il suo testo è il messaggio limit-<nome>
##   $resource     requests o tokens (selezionato nei messaggi stessi)
##   $from         nome wire dello stato precedente (notif-recovered; non mostrato)
##   $status       nome wire di uno stato; il suo testo è il messaggio status-name-<nome>
##   $percent      una percentuale intera (87)
##   $retry_after  secondi prima che un nuovo tentativo possa riuscire
##   $wait         $retry_after come durata a parole ("45 secondi", "21 h 1 min"), aggiunto quando è mostrato
##   $consecutive  numero di errori consecutivi di OpenAI
##   $model        nome di un modello
##   $field        nome di un campo dei limiti come scritto nella configurazione (warning_at); non va tradotto
## Le azioni suggerite sono rese con gli argomenti del messaggio che accompagnano.

## Notifiche: una per tipo di transizione, ciascuna con titolo e corpo.

notif-warning-near-limit =
    .title = Limite del workspace quasi raggiunto
    .body = Questo workspace ha usato il { $percent }% del limite di { $limit }.
notif-warning-upstream-headroom =
    .title = Limite di frequenza OpenAI quasi esaurito
    .body = Resta solo il { $percent }% del limite di frequenza dell'account OpenAI per { $resource ->
        [requests] le richieste
       *[tokens] i token
    }. È condiviso da tutti i workspace dell'account.
notif-rate-limited-workspace =
    .title = Workspace temporaneamente limitato
    .body = Questo workspace ha raggiunto il limite di { $limit }. Le chiamate vengono rifiutate finché non scade una parte sufficiente dell'utilizzo dell'ultimo minuto.
notif-rate-limited-upstream =
    .title = Frequenza limitata da OpenAI
    .body = L'account OpenAI sta limitando la frequenza delle richieste del gateway. Le chiamate vengono rifiutate finché il limite non si azzera.
notif-quota-exceeded-workspace =
    .title = Limite del workspace esaurito
    .body = Questo workspace ha esaurito il limite di { $limit }. Le chiamate vengono rifiutate finché il limite non si azzera all'inizio del periodo successivo.
notif-quota-exceeded-account =
    .title = Credito dell'account OpenAI esaurito
    .body = L'account OpenAI usato da questo gateway ha esaurito il credito, quindi tutte le chiamate di tutti i workspace vengono rifiutate. Un amministratore deve aggiungere credito all'account OpenAI e poi reimpostare lo stato della quota in Quota Sentinel.
notif-degraded =
    .title = OpenAI restituisce errori
    .body = L'API di OpenAI ha fallito { $consecutive ->
        [one] { $consecutive } volta
       *[other] { $consecutive } volte
    } di seguito (errori del server, timeout o connessioni rifiutate). Le chiamate potrebbero non riuscire finché non torna a funzionare.
notif-recovered =
    .title = Tutto di nuovo normale
    .body = Le chiamate vengono di nuovo accettate normalmente.
notif-unpriced-model =
    .title = Modello senza prezzo
    .body = Il modello { $model } non ha un prezzo, quindi il costo delle sue chiamate non viene conteggiato nei budget.
notif-unpriced-models =
    .title = Modelli senza prezzo
    .body = { $more ->
        [0] I modelli { $models } non hanno un prezzo, quindi il costo delle loro chiamate non viene conteggiato nei budget.
        [one] I modelli { $models } e un altro non hanno un prezzo, quindi il costo delle loro chiamate non viene conteggiato nei budget.
       *[other] I modelli { $models } e altri { $more } non hanno un prezzo, quindi il costo delle loro chiamate non viene conteggiato nei budget.
    }
notif-stored-limits-invalid =
    .title = Limiti salvati non validi
    .body = I limiti salvati di questo workspace violano una regola ({ $field }), quindi gli si applicano i limiti predefiniti finché non vengono corretti.
notif-alert-threshold =
    .title = { $soft ->
        [yes] { $percent }% usato di un limite solo di avviso
       *[no] { $percent }% usato di un limite del workspace
    }
    .body = Questo workspace ha usato il { $percent }% del limite di { $limit } ({ $unit ->
        [usd] { $used } di { $cap } USD
       *[count] { $used } di { $cap }
    }). Si azzera alle { $resets_at }.{ $soft ->
        [yes] { " " }Questo limite avvisa soltanto: le chiamate non vengono rifiutate.
       *[no] { "" }
    }
notif-alert-back-under =
    .title = Di nuovo sotto le soglie di avviso
    .body = { $reason ->
        [period_reset] Il limite di { $limit } si è azzerato per il nuovo periodo: i suoi avvisi (fino al { $percent }%) ricominciano.
        [admin_reset] Un amministratore ha azzerato i contatori di questo workspace: gli avvisi del limite di { $limit } (fino al { $percent }%) ricominciano.
       *[limit_raised] Il limite di { $limit } è stato alzato: l'uso è di nuovo sotto il { $percent }%.
    }
notif-alert-burn-rate =
    .title = Un limite si esaurirà presto
    .body = Al ritmo attuale, il limite di { $limit } ({ $percent }% usato) si esaurisce alle { $runs_out_at }, prima di azzerarsi alle { $resets_at }.
notif-account-alert-threshold =
    .title = { $percent }% usato del budget dell'account
    .body = Tutti i workspace insieme hanno usato il { $percent }% del { $limit } dell'account ({ $used } di { $cap } USD). Si azzera alle { $resets_at }. Questo budget avvisa soltanto: le chiamate non vengono rifiutate.
notif-account-alert-back-under =
    .title = Budget dell'account di nuovo sotto le soglie
    .body = { $reason ->
        [period_reset] Il { $limit } dell'account si è azzerato per il nuovo periodo: i suoi avvisi (fino al { $percent }%) ricominciano.
        [admin_reset] Gli avvisi del { $limit } dell'account (fino al { $percent }%) ricominciano.
       *[limit_raised] Il { $limit } dell'account è stato alzato: la spesa è di nuovo sotto il { $percent }%.
    }
notif-account-alert-burn-rate =
    .title = L'account esaurirà presto il budget
    .body = Al ritmo attuale, tutti i workspace insieme esauriscono il { $limit } dell'account ({ $percent }% usato) alle { $runs_out_at }, prima di azzerarsi alle { $resets_at }.
notif-status-changed =
    .title = Stato della quota cambiato
    .body = Lo stato della quota ora è: { $status }.

## Messaggi di stato (GET /api/quota/status): uno per causa.

status-normal = Tutti i limiti hanno margine: le chiamate vengono accettate.
status-warning-near-limit = È stato usato il { $percent }% del limite di { $limit }.
status-warning-upstream-headroom = Resta solo il { $percent }% del limite di frequenza dell'account OpenAI per { $resource ->
        [requests] le richieste
       *[tokens] i token
    }.
status-rate-limited-workspace = Il limite di { $limit } è stato raggiunto: per ora le chiamate vengono rifiutate.
status-rate-limited-upstream = L'account OpenAI sta limitando la frequenza delle chiamate: per ora vengono rifiutate.
status-quota-exceeded-workspace = Il limite di { $limit } è esaurito: le chiamate vengono rifiutate finché non si azzera.
status-quota-exceeded-account = L'account OpenAI ha esaurito il credito: tutte le chiamate vengono rifiutate finché un amministratore non aggiunge credito e reimposta lo stato della quota.
status-degraded = L'API di OpenAI restituisce errori ({ $consecutive ->
        [one] { $consecutive } errore
       *[other] { $consecutive } errori
    } di seguito): le chiamate potrebbero non riuscire.
status-other = Lo stato della quota è: { $status }.

## Azioni suggerite.

action-wait-retry = Riprova tra { $retry_after ->
        [one] { $retry_after } secondo
       *[other] { $retry_after } secondi
    }.
action-wait-retry-long = Riprova tra { $wait }.
action-retry-later = Riprova tra poco.
action-wait-period-reset = Attendi che il limite si azzeri: a mezzanotte (ora locale) per i limiti giornalieri, il primo del mese per quelli mensili.
action-raise-limit = Chiedi a un amministratore di aumentare il limite di questo workspace.
action-reduce-usage = Invia meno richieste o richieste più piccole, ad esempio con un valore di max_tokens più basso.
action-check-upstream = Controlla la pagina di stato e i limiti di frequenza dell'account OpenAI.
action-add-credit = Un amministratore deve aggiungere credito all'account OpenAI dalle impostazioni di fatturazione.
action-reset-after-credit = Una volta aggiunto il credito, un amministratore reimposta lo stato della quota in Quota Sentinel.
action-set-model-price = Chiedi a un amministratore di aggiungere un prezzo per questo modello nella configurazione del gateway.
action-fix-stored-limits = Chiedi a un amministratore di correggere i limiti di questo workspace o di dichiararlo nel file di configurazione del gateway.

## Nomi dei limiti (per $limit).

limit-requests_per_minute = richieste al minuto
limit-requests_per_day = richieste al giorno
limit-tokens_per_minute = token al minuto
limit-tokens_per_day = token al giorno
limit-budget_usd_per_day = budget giornaliero
limit-budget_usd_per_month = budget mensile

## Nomi degli stati (per $status).

status-name-normal = normale
status-name-warning = avviso
status-name-degraded = degradato
status-name-rate_limited = limitato
status-name-quota_exceeded = quota superata

