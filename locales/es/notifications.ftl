## Quota Sentinel: notificaciones de cuota, mensajes de estado y acciones sugeridas (español).
##
## Argumentos que proporciona el núcleo de cuotas:
##   $limit        nombre wire de un límite (tokens_per_day); su texto es el mensaje limit-<nombre>
##   $resource     requests o tokens (se selecciona en los propios mensajes)
##   $from         nombre wire del estado anterior (notif-recovered; no se muestra)
##   $status       nombre wire de un estado; su texto es el mensaje status-name-<nombre>
##   $percent      un porcentaje entero (87)
##   $retry_after  segundos hasta que un reintento pueda tener éxito
##   $wait         $retry_after como duración en palabras ("45 segundos", "21 h 1 min"), añadido al mostrarlo
##   $consecutive  número de fallos consecutivos de OpenAI
##   $model        nombre de un modelo
##   $field        nombre de un campo de límite tal como se escribe en la configuración (warning_at); no se traduce
## Las acciones sugeridas se muestran con los argumentos del mensaje al que acompañan.

## Notificaciones: una por tipo de transición, cada una con título y cuerpo.

notif-warning-near-limit =
    .title = Cerca del límite del espacio de trabajo
    .body = Este espacio de trabajo ha usado el { $percent } % de su límite de { $limit }.
notif-warning-upstream-headroom =
    .title = Límite de tasa de OpenAI casi agotado
    .body = Solo queda el { $percent } % del límite de tasa de { $resource ->
        [requests] solicitudes
       *[tokens] tokens
    } de la cuenta de OpenAI. Lo comparten todos los espacios de trabajo de la cuenta.
notif-rate-limited-workspace =
    .title = Espacio de trabajo limitado
    .body = Este espacio de trabajo ha alcanzado su límite de { $limit }. Las llamadas se rechazan hasta que caduque suficiente uso del último minuto.
notif-rate-limited-upstream =
    .title = Limitado por OpenAI
    .body = La cuenta de OpenAI está limitando la tasa de solicitudes del gateway. Las llamadas se rechazan hasta que su límite se restablezca.
notif-quota-exceeded-workspace =
    .title = Límite del espacio de trabajo agotado
    .body = Este espacio de trabajo ha agotado su límite de { $limit }. Las llamadas se rechazan hasta que el límite se restablezca al inicio del siguiente periodo.
notif-quota-exceeded-account =
    .title = Cuenta de OpenAI sin crédito
    .body = La cuenta de OpenAI de este gateway se ha quedado sin crédito, por lo que se rechazan todas las llamadas de todos los espacios de trabajo. Un administrador debe añadir crédito a la cuenta de OpenAI y después restablecer el estado de la cuota en Quota Sentinel.
notif-degraded =
    .title = OpenAI está fallando
    .body = La API de OpenAI ha fallado { $consecutive ->
        [one] { $consecutive } vez
       *[other] { $consecutive } veces seguidas
    } (errores del servidor, tiempos de espera agotados o conexiones rechazadas). Las llamadas pueden fallar hasta que se recupere.
notif-recovered =
    .title = Todo vuelve a la normalidad
    .body = Las llamadas vuelven a admitirse con normalidad.
notif-unpriced-model =
    .title = Modelo sin precio
    .body = El modelo { $model } no tiene precio, así que el coste de sus llamadas no se descuenta de los presupuestos.
notif-unpriced-models =
    .title = Modelos sin precio
    .body = { $more ->
        [0] Los modelos { $models } no tienen precio, así que el coste de sus llamadas no se descuenta de los presupuestos.
        [one] Los modelos { $models } y otro más no tienen precio, así que el coste de sus llamadas no se descuenta de los presupuestos.
       *[other] Los modelos { $models } y { $more } más no tienen precio, así que el coste de sus llamadas no se descuenta de los presupuestos.
    }
notif-stored-limits-invalid =
    .title = Los límites guardados no son válidos
    .body = Los límites guardados de este espacio de trabajo incumplen una regla ({ $field }), así que se le aplican los límites predeterminados hasta que se corrijan.
notif-alert-threshold =
    .title = { $soft ->
        [yes] { $percent } % usado de un límite solo de aviso
       *[no] { $percent } % usado de un límite del espacio de trabajo
    }
    .body = Este espacio de trabajo ha usado el { $percent } % de su límite de { $limit } ({ $unit ->
        [usd] { $used } de { $cap } USD
       *[count] { $used } de { $cap }
    }). Se restablece a las { $resets_at }.{ $soft ->
        [yes] { " " }Este límite solo avisa: las llamadas no se rechazan.
       *[no] { "" }
    }
notif-alert-back-under =
    .title = De nuevo por debajo de los umbrales de alerta
    .body = { $reason ->
        [period_reset] El límite de { $limit } se ha restablecido para el nuevo periodo: sus alertas (hasta el { $percent } %) empiezan de nuevo.
        [admin_reset] Un administrador ha restablecido los contadores de este espacio de trabajo: las alertas del límite de { $limit } (hasta el { $percent } %) empiezan de nuevo.
       *[limit_raised] Se ha aumentado el límite de { $limit }: el uso vuelve a estar por debajo del { $percent } %.
    }
notif-alert-burn-rate =
    .title = Un límite se agotará pronto
    .body = Al ritmo actual, el límite de { $limit } ({ $percent } % usado) se agota a las { $runs_out_at }, antes de restablecerse a las { $resets_at }.
notif-account-alert-threshold =
    .title = { $percent } % usado del presupuesto de la cuenta
    .body = Todos los espacios de trabajo juntos han usado el { $percent } % del { $limit } de la cuenta ({ $used } de { $cap } USD). Se restablece a las { $resets_at }. Este presupuesto solo avisa: las llamadas no se rechazan.
notif-account-alert-back-under =
    .title = Presupuesto de la cuenta de nuevo bajo los umbrales
    .body = { $reason ->
        [period_reset] El { $limit } de la cuenta se ha restablecido para el nuevo periodo: sus alertas (hasta el { $percent } %) empiezan de nuevo.
        [admin_reset] Las alertas del { $limit } de la cuenta (hasta el { $percent } %) empiezan de nuevo.
       *[limit_raised] Se ha aumentado el { $limit } de la cuenta: el gasto vuelve a estar por debajo del { $percent } %.
    }
notif-account-alert-burn-rate =
    .title = La cuenta va a agotar su presupuesto
    .body = Al ritmo actual, todos los espacios de trabajo juntos agotan el { $limit } de la cuenta ({ $percent } % usado) a las { $runs_out_at }, antes de restablecerse a las { $resets_at }.
notif-status-changed =
    .title = Cambio en el estado de la cuota
    .body = El estado de la cuota ahora es: { $status }.

## Mensajes de estado (GET /api/quota/status): uno por causa.

status-normal = Todos los límites tienen margen: se admiten las llamadas.
status-warning-near-limit = Se ha usado el { $percent } % del límite de { $limit }.
status-warning-upstream-headroom = Solo queda el { $percent } % del límite de tasa de { $resource ->
        [requests] solicitudes
       *[tokens] tokens
    } de la cuenta de OpenAI.
status-rate-limited-workspace = Se ha alcanzado el límite de { $limit }: por ahora se rechazan las llamadas.
status-rate-limited-upstream = La cuenta de OpenAI está limitando las llamadas: por ahora se rechazan.
status-quota-exceeded-workspace = El límite de { $limit } está agotado: se rechazan las llamadas hasta que se restablezca.
status-quota-exceeded-account = La cuenta de OpenAI no tiene crédito: se rechazan todas las llamadas hasta que un administrador añada crédito y restablezca el estado de la cuota.
status-degraded = La API de OpenAI está fallando ({ $consecutive ->
        [one] { $consecutive } fallo
       *[other] { $consecutive } fallos seguidos
    }): las llamadas pueden fallar.
status-other = El estado de la cuota es: { $status }.

## Acciones sugeridas.

action-wait-retry = Reintenta en { $retry_after ->
        [one] { $retry_after } segundo
       *[other] { $retry_after } segundos
    }.
action-wait-retry-long = Reintenta en { $wait }.
action-retry-later = Reintenta dentro de un rato.
action-wait-period-reset = Espera a que el límite se restablezca: a medianoche (hora local) en los límites diarios y el día 1 de cada mes en los mensuales.
action-raise-limit = Pide a un administrador que aumente el límite de este espacio de trabajo.
action-reduce-usage = Envía menos solicitudes o más pequeñas, por ejemplo con un max_tokens más bajo.
action-check-upstream = Revisa la página de estado y los límites de tasa de la cuenta de OpenAI.
action-add-credit = Un administrador debe añadir crédito a la cuenta de OpenAI en su configuración de facturación.
action-reset-after-credit = Una vez añadido el crédito, un administrador restablece el estado de la cuota en Quota Sentinel.
action-set-model-price = Pide a un administrador que añada un precio para este modelo en la configuración del gateway.
action-fix-stored-limits = Pide a un administrador que corrija los límites de este espacio de trabajo o que lo declare en el archivo de configuración del gateway.

## Nombres de los límites (para $limit).

limit-requests_per_minute = solicitudes por minuto
limit-requests_per_day = solicitudes por día
limit-tokens_per_minute = tokens por minuto
limit-tokens_per_day = tokens por día
limit-budget_usd_per_day = presupuesto diario
limit-budget_usd_per_month = presupuesto mensual

## Nombres de los estados (para $status).

status-name-normal = normal
status-name-warning = advertencia
status-name-degraded = degradado
status-name-rate_limited = limitado
status-name-quota_exceeded = cuota superada

