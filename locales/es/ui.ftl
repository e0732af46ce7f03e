# Errores mostrados como último error de un espacio de trabajo (informes de estado, tabla de administración).
error-workspace-limit = Se rechazó una llamada: el espacio de trabajo alcanzó su límite de { $limit }. Reintenta en { $retry_after } s.
error-upstream-timeout = OpenAI no respondió a tiempo.
error-upstream-unreachable = No se pudo contactar con OpenAI.
error-upstream-cut = La conexión con OpenAI se cortó mientras se transmitía una respuesta.
error-upstream-rate-limited = OpenAI limitó la tasa de solicitudes de la cuenta.
error-upstream-quota = OpenAI rechazó la llamada: la cuenta no tiene crédito.
error-upstream-server = OpenAI respondió con un error del servidor ({ $status }).
