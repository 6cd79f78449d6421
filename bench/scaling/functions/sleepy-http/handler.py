# The step-load bench's python3-http handler: about 10 ms per call, most of it asleep (a stand-in for I/O),
# so that one replica serves many calls at once and the autoscaler's rps figure drives the replica count.
import time


def handle(event, context):
    time.sleep(0.010)
    return {"statusCode": 200, "body": "ok"}
