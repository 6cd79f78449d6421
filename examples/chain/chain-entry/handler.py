import json
import os
import time
import urllib.request

GATEWAY = os.getenv("gateway_url", "http://127.0.0.1:8080").rstrip("/")


def handle(event, context):
    """Forwards the body to chain-next and reports the hop: bytes sent and the round trip in milliseconds."""
    started = time.perf_counter()
    request = urllib.request.Request(f"{GATEWAY}/function/chain-next", data=event.body, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    hop_ms = (time.perf_counter() - started) * 1000
    return {"statusCode": 200, "body": {"bytes": len(event.body), "received": answer["bytes"], "hop_ms": hop_ms}}
