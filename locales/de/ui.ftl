# Fehler, die als letzter Fehler eines Workspaces angezeigt werden (Statusberichte, Admin-Tabelle).
error-workspace-limit = Ein Aufruf wurde abgelehnt: Der Workspace hat sein Limit von { $limit } erreicht. Erneut versuchen in { $retry_after } s.
error-upstream-timeout = OpenAI hat nicht rechtzeitig geantwortet.
error-upstream-unreachable = OpenAI war nicht erreichbar.
error-upstream-cut = Die Verbindung zu OpenAI brach ab, während eine Antwort gestreamt wurde.
error-upstream-rate-limited = OpenAI hat die Anfragerate des Kontos begrenzt.
error-upstream-quota = OpenAI hat den Aufruf abgelehnt: Das Konto hat kein Guthaben mehr.
error-upstream-server = OpenAI hat mit einem Serverfehler geantwortet ({ $status }).
