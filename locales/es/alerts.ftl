## Quota Sentinel: lo que los canales de alerta (webhook, Slack, correo) añaden a una notificación (español).
##
## Argumentos:
##   $channel    el id de un canal (ops)
##   $workspace  el id de un espacio de trabajo (acme)
##   $status     el nombre de un estado, ya traducido (cuota superada)
##   $time       una fecha y hora en la zona horaria del canal (2026-11-30 14:05:09 CET)
##   $title      el título de la notificación, ya traducido

## La notificación de POST /api/admin/channels/{id}/test.

alert-test =
    .title = Alerta de prueba de Quota Sentinel
    .body = Esta es una alerta de prueba para el canal { $channel }. Si puedes leerla, el canal funciona.

## Slack: la línea de contexto bajo el mensaje.

alert-context = Espacio de trabajo { $workspace } · { $status } · { $time }
alert-context-test = Alerta de prueba · { $time }

## Correo: asunto, detalles y pie.

alert-email-subject = [Quota Sentinel] { $title } – espacio de trabajo { $workspace }
alert-email-subject-test = [Quota Sentinel] { $title }
alert-label-workspace = Espacio de trabajo: { $workspace }
alert-label-status = Estado: { $status }
alert-label-time = Hora: { $time }
alert-email-footer = Enviado por Quota Sentinel a través del canal de alertas { $channel }.
