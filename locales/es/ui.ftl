# Errores mostrados como último error de un espacio de trabajo (informes de estado, tabla de administración).
error-workspace-limit = Se rechazó una llamada: el espacio de trabajo alcanzó su límite de { $limit }. Reintenta en { $retry_after ->
        [one] { $retry_after } segundo
       *[other] { $retry_after } segundos
    }.
error-workspace-limit-day = Se rechazó una llamada: el espacio de trabajo alcanzó su límite de { $limit }. Se restablece a las { $resets_at }, dentro de { $wait }.
error-workspace-limit-month = Se rechazó una llamada: el espacio de trabajo alcanzó su límite de { $limit }. Se restablece el día 1 del mes a las { $resets_at }, dentro de { $wait }.
error-upstream-timeout = OpenAI no respondió a tiempo.
error-upstream-unreachable = No se pudo contactar con OpenAI.
error-upstream-cut = La conexión con OpenAI se cortó mientras se transmitía una respuesta.
error-upstream-rate-limited = OpenAI limitó la tasa de solicitudes de la cuenta.
error-upstream-quota = OpenAI rechazó la llamada: la cuenta no tiene crédito.
error-upstream-server = OpenAI respondió con un error del servidor ({ $status }).

## ─── Interfaz web ────────────────────────────────────────────────────────────────

app-name = Quota Sentinel
language-name = Español
language-label = Idioma
loading = Cargando…

number-decimal-separator = ,
number-group-separator = .
money-usd = { $amount } US$
date-short-format = %d/%m
datetime-format = %d/%m/%Y %H:%M UTC
time-ago-seconds = { $count ->
    [one] hace 1 segundo
   *[other] hace { $count } segundos
}
time-ago-minutes = { $count ->
    [one] hace 1 minuto
   *[other] hace { $count } minutos
}
time-ago-hours = { $count ->
    [one] hace 1 hora
   *[other] hace { $count } horas
}
time-ago-days = { $count ->
    [one] hace 1 día
   *[other] hace { $count } días
}

## Duraciones (una espera, mostrada como $wait): bajo un minuto en segundos, luego minutos, luego
## horas y minutos. Cada número pasa por una elección de plural, aunque las palabras no cambien.

duration-seconds = { $seconds ->
        [one] { $seconds } segundo
       *[other] { $seconds } segundos
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

nav-label = Principal
nav-workspace = Espacio de trabajo
nav-admin = Todos los espacios
nav-sign-out = Cerrar sesión
connection-live = En directo
connection-connecting = Conectando…
connection-reconnecting = Reconectando…
connection-offline = Sin conexión
stale-data = Estos datos pueden estar desactualizados: la conexión con el servidor se ha interrumpido.

login-title = Iniciar sesión
login-intro = Pega la clave de un espacio de trabajo para verlo, o la clave de administración para verlos todos.
login-key-label = Clave
login-key-placeholder = qs_… o la clave de administración
login-key-help = La clave se envía una sola vez; después el navegador solo guarda una cookie de sesión.
login-submit = Iniciar sesión
login-error-empty = Primero pega una clave.
login-error-invalid = Esta clave no es válida.
login-error-failed = No se pudo iniciar sesión. Inténtalo de nuevo.
login-error-blocked = Se enviaron demasiadas claves incorrectas desde tu dirección. Espera un minuto y vuelve a intentarlo.

forbidden-title = Acceso no permitido
forbidden-body = Esta página es para administradores. Inicia sesión con la clave de administración para abrirla.
forbidden-home = Ir a la página de inicio
not-found-title = Página no encontrada
load-error-title = No se pudo cargar la página
load-error-body = El servidor no respondió como se esperaba. Recarga la página para intentarlo de nuevo.
load-error-reference = Referencia para el administrador: { $reference }

status-label-normal = Normal
status-label-warning = Aviso
status-label-degraded = Degradado
status-label-rate_limited = Limitado
status-label-quota_exceeded = Cuota agotada

banner-title-rate_limited = Las llamadas están limitadas
banner-title-quota_exceeded = Cuota agotada: se rechazan las llamadas
banner-title-degraded = OpenAI tiene problemas
banner-title-normal = Todo bien
banner-title-warning = Cerca de un límite
banner-scope = De quién es el límite:
banner-scope-workspace = el límite propio de este espacio de trabajo.
banner-scope-account = el límite de la cuenta de OpenAI, compartido por todos los espacios de trabajo.
banner-actions = Qué hacer
banner-retry-in = { $seconds ->
    [one] Se podrá reintentar en 1 segundo.
   *[other] Se podrá reintentar en { $seconds } segundos.
}
banner-retry-in-wait = Se podrá reintentar en { $wait }.
banner-retry-now = Ya se puede reintentar.

usage-title = Uso
usage-label-requests_per_minute = Solicitudes por minuto
usage-label-requests_per_day = Solicitudes hoy
usage-label-tokens_per_minute = Tokens por minuto
usage-label-tokens_per_day = Tokens hoy
usage-label-budget_usd_per_day = Gasto de hoy
usage-label-budget_usd_per_month = Gasto del mes
usage-of-limit = { $used } de { $limit }
usage-no-limit = { $used } (sin límite)
usage-state-warning = ⚠ cerca del límite
usage-state-full = ⊘ límite alcanzado
usage-warning-mark = Umbral de aviso
forecast-runs-out = A este ritmo se agota a las { $runs_out_at }, antes de restablecerse a las { $resets_at }.
forecast-lasts = A este ritmo dura hasta que se restablece a las { $resets_at }.

upstream-title = Margen de OpenAI
upstream-help = Lo que le queda a la cuenta de OpenAI en su ventana de límite actual, compartida por todos los espacios de trabajo.
upstream-none = OpenAI aún no ha indicado ningún margen.
upstream-requests = Solicitudes restantes
upstream-tokens = Tokens restantes
upstream-remaining-of = { $remaining } de { $limit }
upstream-unknown = desconocido
upstream-observed = Última lectura

breakdown-title = Uso de hoy por objetivo y tarea
breakdown-by-goal = Por objetivo
breakdown-by-task = Por tarea
usage-table-key = Nombre
usage-table-requests = Solicitudes
usage-table-tokens = Tokens
usage-table-cost = Coste
usage-table-empty = Ninguna llamada hoy.
usage-table-untagged = (sin etiqueta)

notifications-title = Notificaciones recientes
notifications-empty = Todavía no hay notificaciones.
level-info = Información
level-warning = Aviso
level-error = Error
toasts-label = Notificaciones
toast-close = Cerrar la notificación
toast-count = { $count ->
    [one] una vez
   *[other] ×{ $count }
}
toast-more = { $count ->
    [one] +{ $count } notificación más
   *[other] +{ $count } notificaciones más
}
toast-dismiss-all = Cerrar todas

overview-title = Resumen
overview-account = Cuenta de OpenAI
overview-spend = Gasto
overview-spend-today = Hoy, todos los espacios de trabajo
overview-spend-month = Este mes, todos los espacios de trabajo
overview-of-budget = de { $budget }
overview-account-forecast = Presupuesto de la cuenta, { $limit }: { $forecast }
overview-top-spend = Mayor gasto hoy
overview-no-spend = Hoy no se ha gastado nada.
overview-burn = En camino de agotar un límite
overview-no-burn = Ningún espacio de trabajo va a agotar un límite antes de que se restablezca.
overview-latest-alerts = Últimas alertas
nav-audit = Registro de auditoría
audit-title = Registro de auditoría
audit-export = Exportar CSV
audit-col-at = Cuándo
audit-col-actor = Quién
audit-col-address = Desde
audit-col-action = Acción
audit-col-target = Sobre
audit-col-change = Cambio
audit-empty = Todavía no hay acciones de administración.
audit-older = Entradas anteriores
audit-failed = No se pudieron cargar las entradas anteriores. Inténtelo de nuevo.
rules-title = Reglas de alerta
rules-thresholds = Alertar en estas fracciones de cada límite diario y mensual (%)
rules-thresholds-help = Cada alerta se envía una vez por periodo. Déjelo vacío para no tener alertas de umbral.
rules-soft = Solo avisar, nunca rechazar
rules-save = Guardar reglas de alerta
rules-saved = Guardado: las reglas se aplican ya.
rules-failed = No guardado.
rules-invalid-thresholds = Indique hasta 10 porcentajes entre 0 y 100, separados por comas.
nav-channels = Canales de alerta
channels-title = Canales de alerta
channels-intro = Las alertas llegan a las personas donde están: un webhook, un chat de equipo o un buzón. Cada canal recibe los niveles configurados, en su propio idioma y zona horaria.
channels-empty = Todavía no hay canales: las alertas solo llegan a las páginas abiertas.
channels-add = Añadir canal
channels-id = Identificador (letras, dígitos, - y _)
channels-kind = Tipo
channels-url = URL
channels-to = Direcciones (separadas por comas)
channels-levels = Niveles
channels-workspaces = Espacios de trabajo
channels-all-workspaces = Todos los espacios de trabajo
channels-locale = Idioma
channels-target = Envía a
channels-origin = Definido en
channels-origin-file = el archivo de configuración
channels-origin-api = esta página
channels-test = Enviar una alerta de prueba
channels-test-queued = Alerta de prueba en cola.
channels-test-failed = No se pudo poner en cola la alerta de prueba.
channels-log = Registro de entregas
channels-log-empty = Todavía no se ha entregado nada.
channels-log-failed = No se pudo cargar el registro de entregas.
channels-delete = Eliminar
channels-delete-question = ¿Eliminar este canal? Las alertas pendientes para él se abandonan.
channels-delete-failed = No se pudo eliminar el canal.
channels-added = Canal añadido.
channels-add-failed = No añadido.
channels-secret-once = El secreto de firma del webhook, que solo se muestra ahora: cópielo en el receptor.
channel-kind-webhook = Webhook
channel-kind-slack = Compatible con Slack
channel-kind-email = Correo electrónico
delivery-attempt = Intento
delivery-outcome = Resultado
delivery-reply = Respuesta
delivery-latency = Duración
delivery-ms = { $ms } ms
delivery-delivered = Entregado
delivery-will_retry = Se reintentará
delivery-gave_up = Abandonado
admin-title = Todos los espacios de trabajo
admin-filter = Filtrar
admin-filter-placeholder = Nombre o id del espacio
admin-filter-status = Estado
admin-filter-any = Cualquier estado
admin-empty = Ningún espacio de trabajo coincide.
admin-col-workspace = Espacio de trabajo
admin-col-status = Estado
admin-col-requests_day = Solicitudes hoy
admin-col-tokens_day = Tokens hoy
admin-col-spend_day = Gasto de hoy
admin-col-spend_month = Gasto del mes
admin-col-last_error = Último error
detail-back = ← Todos los espacios de trabajo
history-title = Historial
chart-hourly-requests = Solicitudes por hora (últimas 24 horas)
chart-hourly-tokens = Tokens por hora (últimas 24 horas)
chart-hourly-cost = Coste por hora (últimas 24 horas)
chart-daily-requests = Solicitudes por día (últimos 30 días)
chart-daily-tokens = Tokens por día (últimos 30 días)
chart-daily-cost = Coste por día (últimos 30 días)
chart-summary = Total: { $total }
reset-button = Restablecer el estado de la cuota
reset-confirm-question = ¿Restablecer los contadores y estados de este espacio de trabajo, incluido el de la cuenta? No se puede deshacer.
reset-confirm-yes = Sí, restablecer
reset-confirm-no = Cancelar
reset-done = Se ha restablecido el espacio de trabajo.
reset-failed = No se pudo restablecer.

# Shown on every page in demo mode (quota-sentinel demo).
demo-notice = Demo: OpenAI simulado y tráfico sintético — nada de esto es uso real.

## Primer arranque (/setup), al que se llega con el enlace de un solo uso que el gateway imprime al arrancar por primera vez.
setup-title = Configurar Quota Sentinel
setup-intro = Crea el primer workspace. Su clave es lo que tus aplicaciones envían en lugar de la clave de OpenAI; el gateway añade la real.
setup-id-label = Id del workspace
setup-id-help = Letras, dígitos, - y _ (hasta 64). Nombra el workspace en la API y en los registros.
setup-name-label = Nombre visible (opcional)
setup-submit = Crear el workspace y su clave
setup-error-id = El id solo puede contener letras, dígitos, - y _, hasta 64 caracteres.
setup-error-exists = Ya existe un workspace con este id.
setup-error-session = La sesión de configuración ha terminado. Reinicia el gateway para obtener un enlace nuevo.
setup-error-failed = No se pudo crear el workspace. Inténtalo de nuevo.
setup-done-title = El workspace { $name } está listo
setup-done-env = Define estas dos variables donde se ejecuta tu aplicación; todos los SDK de OpenAI las leen:
setup-done-key-once = La clave se muestra solo esta vez: cópiala ahora.
setup-done-admin = Esta sesión de configuración termina cuando el gateway se reinicia. Para conservar el acceso de administrador, define QUOTA_ADMIN_KEY antes del próximo arranque.
setup-open-workspace = Abrir el workspace
setup-closed-title = Este enlace de configuración ya no funciona
setup-closed-used = Ya se usó: un enlace de configuración funciona una sola vez.
setup-closed-expired = Ha caducado: un enlace de configuración funciona durante 15 minutos.
setup-closed-invalid = No es el enlace de configuración actual de este gateway.
setup-closed-next = Mientras el gateway no tenga ningún workspace ni clave de administrador, imprime un enlace nuevo cada vez que arranca. O inicia sesión con una clave.
setup-closed-sign-in = Iniciar sesión con una clave
