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
error-quota-state-unavailable = Se rechazó una llamada: el estado de cuotas que comparten las instancias del gateway (Redis) no respondió y este espacio de trabajo tiene un presupuesto en USD. Las llamadas se reanudan cuando responda.

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

## Próximos restablecimientos y cambios de modelo (página del workspace, página de detalle de un workspace).
# $at es una hora local en la zona horaria del gateway: 00:00 (el restablecimiento diario), 2024-06-01 00:00 (el mensual).
resets-day = Próximo restablecimiento de los límites diarios: { $at }
resets-month = Próximo restablecimiento del límite mensual: { $at }
resets-zone = Horas en la zona horaria del gateway.
downgrade-title = Modelos más baratos en uso
# $from y $to son nombres de modelos; $percent una fracción del presupuesto en USD, ya formateada (90).
downgrade-active = Las llamadas a { $from } usan ahora { $to }: se ha usado el { $percent } % del presupuesto en USD.

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

## Límites y políticas (página de detalle de un workspace, administración).
policies-title = Límites y políticas
policies-intro = Los cambios se aplican desde la siguiente llamada, sin reiniciar, y se conservan tras los reinicios.
policies-limits = Límites (vacío o 0: sin límite)
policies-limit-requests_per_minute = Solicitudes por minuto
policies-limit-requests_per_day = Solicitudes por día
policies-limit-tokens_per_minute = Tokens por minuto
policies-limit-tokens_per_day = Tokens por día
policies-limit-budget_usd_per_day = Presupuesto por día (USD)
policies-limit-budget_usd_per_month = Presupuesto por mes (USD)
policies-no-limit = sin límite
policies-warning_at = Nivel de aviso (% de cada límite)
policies-priority_shares = Fracciones por prioridad (% de cada límite)
policies-share-optional = Llamadas opcionales hasta
policies-share-normal = Llamadas normales hasta
policies-shares-help = Las llamadas con X-Quota-Priority: optional o normal se rechazan a partir de estas fracciones; las críticas y las que no llevan la cabecera, solo en el límite. Vacío: opcionales hasta el nivel de aviso, normales hasta el 95 %.
policies-downgrade = Cambios a modelos más baratos
policies-downgrade-help = A partir de una fracción del presupuesto en USD (el del día o el del mes, el que vaya más avanzado), las llamadas a un modelo usan otro.
policies-downgrade-from = Llamadas al modelo
policies-downgrade-to = usan el modelo
policies-downgrade-at = desde (% del presupuesto)
policies-downgrade-add = Añadir una regla
policies-downgrade-remove = Quitar esta regla
policies-downgrade-empty = Ninguna regla de cambio de modelo.
policies-resets-retries = Restablecimientos y reintentos
policies-upstream_retries = Reintentos cuando OpenAI limita una llamada (0–5)
policies-reset_daily_at = Hora de restablecimiento diario (HH:MM, hora del gateway)
policies-reset_monthly_on = Día de restablecimiento mensual (1–31)
policies-reset-help = Los límites diarios se restablecen a esta hora; el mensual, este día a esta hora (un mes más corto, en su último día).
policies-save = Guardar límites y políticas
policies-saving = Guardando…
policies-saved = Guardado: los nuevos límites y políticas se aplican ya.
policies-failed = No guardado.
# $field es la etiqueta de un campo de arriba, $rule la regla que su valor incumple (un mensaje limit-rule-…).
policies-invalid = { $field }: { $rule }
policies-rule-count = debe ser un número entero de 0 o más (0 o vacío: sin límite).

## Las reglas de límites y políticas, indicadas cuando un valor incumple una (el formulario de
## administración; clientes de la API que las muestran en el idioma del lector). Cada una sigue al nombre de un campo y dos puntos.
limit-rule-budget = debe ser un importe en USD de 0 o más (0: sin presupuesto).
limit-rule-warning_at = debe ser una fracción del límite mayor que 0 % y de como mucho 100 %, p. ej. 80 %.
limit-rule-alert_thresholds = deben ser como mucho 10 fracciones mayores que 0 % y de como mucho 100 %, p. ej. 50, 80, 95, 100 %.
limit-rule-alert_thresholds_by_limit = debe asignar a los límites diarios y mensuales (los de minuto no tienen umbrales) como mucho 10 fracciones cada uno, mayores que 0 % y de como mucho 100 %.
limit-rule-priority_shares = la fracción opcional y la normal deben ser mayores que 0 % y de como mucho 100 %, y la opcional no mayor que la normal (vacío: opcional en el nivel de aviso, normal en el 95 %).
limit-rule-downgrade = deben ser como mucho 20 reglas, cada una con dos nombres de modelo distintos y una fracción del presupuesto mayor que 0 % y de como mucho 100 %, y cada modelo cambiado por una regla como mucho, p. ej. gpt-4o a gpt-4o-mini al 90 %.
limit-rule-upstream_retries = debe ser un número entero de reintentos de 0 a 5.
limit-rule-reset_daily_at = debe ser una hora local HH:MM (24 horas), p. ej. 06:00.
limit-rule-reset_monthly_on = debe ser un día del mes de 1 a 31 (un mes más corto se restablece en su último día).
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

# Workspace list paging
admin-paging = Páginas de espacios de trabajo
admin-page-range = { $from }–{ $to } de { $total }
admin-page-previous = Anterior
admin-page-next = Siguiente
admin-page-loading = Cargando…
admin-page-failed = No se pudieron cargar los espacios de trabajo. Inténtelo de nuevo.
