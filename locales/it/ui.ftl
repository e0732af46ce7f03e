# Errori mostrati come ultimo errore di un workspace (report di stato, tabella admin).
error-workspace-limit = Una chiamata è stata rifiutata: il workspace ha raggiunto il limite di { $limit }. Riprova tra { $retry_after } s.
error-upstream-timeout = OpenAI non ha risposto in tempo.
error-upstream-unreachable = Impossibile raggiungere OpenAI.
error-upstream-cut = La connessione a OpenAI si è interrotta durante lo streaming di una risposta.
error-upstream-rate-limited = OpenAI ha limitato la frequenza delle richieste dell'account.
error-upstream-quota = OpenAI ha rifiutato la chiamata: l'account ha esaurito il credito.
error-upstream-server = OpenAI ha risposto con un errore del server ({ $status }).
