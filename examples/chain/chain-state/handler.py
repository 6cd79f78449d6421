"""A counter with a payload of state, kept where the request says.

stateless (default): the body is the whole state; the function bumps its first byte and answers the new state,
  so the state travels to the function and back on every call.
stateful (header X-State: stateful, X-Session: KEY, X-State-Size: BYTES): the state lives in this replica's
  memory, created on first use; the request and answer carry only the counter.
"""

SESSIONS = {}


def handle(event, context):
    headers = {k.lower(): v for k, v in event.headers.items()}
    if headers.get("x-state") == "stateful":
        key = headers.get("x-session", "default")
        state = SESSIONS.get(key)
        if state is None:
            state = SESSIONS[key] = bytearray(int(headers.get("x-state-size", "0")) or 1)
        state[0] = (state[0] + 1) % 256
        return {"statusCode": 200, "body": {"counter": state[0], "bytes": len(state)}}
    state = bytearray(event.body or b"\0")
    state[0] = (state[0] + 1) % 256
    return {"statusCode": 200, "body": bytes(state), "headers": {"Content-Type": "application/octet-stream"}}
