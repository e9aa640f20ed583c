#!/bin/sh
# The platform (ingest, rules engine, notifier) as the system under test of the third-party
# harness in ../shared/peers (run.py --sut-cmd): it stores readings in measurement `reading`
# and POSTs each fall and help call to the harness's webhook through the notifier's one
# variable, HOF_NOTIFY__WEBHOOK_URL (the default telecare policy's first level).
#   HOF_MQTT_HOST/PORT -> HOF_MQTT__HOST/PORT (anonymous)
#   HOF_INFLUX_URL/DB  -> HOF_INFLUX__URL / HOF_INFLUX__DATABASE
#   HOF_WEBHOOK_URL    -> HOF_NOTIFY__WEBHOOK_URL
#   HOF_WORKDIR        -> HOF_STATE_DIR (the alert store's SQLite file, metrics registrations)
# The harness's homes are in no registry, so no consent is recorded for them: telecare (and
# activity) are taken as consented here (HOF_RIGHTS__UNRECORDED), or falls would be dropped.
# HOF_PY names the python of a venv with the project installed.
set -eu
export HOF_STATE_DIR="$HOF_WORKDIR" HOF_MQTT__HOST="$HOF_MQTT_HOST" HOF_MQTT__PORT="$HOF_MQTT_PORT" \
       HOF_INFLUX__URL="$HOF_INFLUX_URL" HOF_INFLUX__DATABASE="$HOF_INFLUX_DB" \
       HOF_NOTIFY__WEBHOOK_URL="$HOF_WEBHOOK_URL" HOF_NOTIFY__HTTP_PORT=0 \
       HOF_RIGHTS__UNRECORDED='["environment", "activity", "telecare"]' \
       HOF_LOG_FORMAT=json HOF_LOG_LEVEL="${HOF_SUT_LOG_LEVEL:-WARNING}"
PY=${HOF_PY:?set HOF_PY to the python of a venv with the project installed}
# As hof demo and deploy/systemd run them: falls judged in a process of their own, and the
# bulk of readings (ingest, the other rules) at nice 10, each of them in a session and
# autogroup of its own so that the nice counts against the harness's processes too
# (hof/cpu.py; docs/notify.md, "The bulk's CPU priority").
HOF_INGEST__NICE=10 "$PY" -m hof.cli ingest &
HOF_ALERTS__RULES=telecare HOF_ALERTS__CLIENT_ID=hof-alerts-telecare "$PY" -m hof.cli alerts &
HOF_ALERTS__RULES=rest HOF_ALERTS__CLIENT_ID=hof-alerts-rest HOF_ALERTS__NICE=10 \
  "$PY" -m hof.cli alerts &
"$PY" -m hof.cli notify &
trap 'kill -TERM $(jobs -p) 2>/dev/null; wait' TERM INT
wait
