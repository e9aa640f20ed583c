"""Run on MicroPython: the firmware's MQTT client against a real Mosquitto.

micropython mp_mqtt_live.py FIRMWARE_DIR HOST PORT HOME DEVICE PASSWORD
"""

import sys
import time

sys.path.insert(0, sys.argv[1])

from lib.mqtt import MQTTClient, MQTTException

host, port = sys.argv[2], int(sys.argv[3])
home, device, password = sys.argv[4], sys.argv[5], sys.argv[6]
prefix = f"hof/v1/{home}/{device}/"
got = []
c = MQTTClient(
    (home + "-" + device).encode(),
    host,
    port,
    (home + "/" + device).encode(),
    password.encode(),
    keepalive=30,
)
c.set_callback(lambda t, m: got.append((bytes(t), bytes(m))))
for _attempt in range(50):  # the broker reads new credentials a moment after SIGHUP
    try:
        c.connect()
        break
    except MQTTException:
        time.sleep(0.1)
c.publish((prefix + "status").encode(), b'{"state":"online"}', retain=True, qos=1)
pid = c.publish((prefix + "reading").encode(), b"[]", qos=1)
c.subscribe((prefix + "status").encode(), 1)
c.ping()
kinds = []
deadline = time.ticks_add(time.ticks_ms(), 5000)
while time.ticks_diff(deadline, time.ticks_ms()) > 0 and not (
    got and 0xD0 in kinds and c.acked == pid
):
    k = c.check_msg()
    if k is not None:
        kinds.append(k)
    time.sleep_ms(10)
print("acked", c.acked == pid, "pingresp", 0xD0 in kinds, "suback", 0x90 in kinds)
print("retained", got)
try:
    c.publish(b"hof/v1/%s/other/reading" % home.encode(), b"[]", qos=1)  # not ours: the ACL
    c.ping()
    time.sleep_ms(300)
    c.check_msg()
except OSError:
    pass
c.disconnect()
print("DONE")
