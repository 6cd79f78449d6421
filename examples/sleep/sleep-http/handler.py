import os
import time


def handle(event, context):
    """Sleeps SLEEP seconds (the environment's, or the body's number when it has one), then says so. With
    SPIN=1 it keeps the CPU busy for that long instead (for CPU-based autoscaling)."""
    seconds = float(event.body.decode().strip() or os.getenv("SLEEP", "3"))
    wait(seconds, os.getenv("SPIN") == "1")
    return {"statusCode": 200, "body": f"slept {seconds:g} s"}


def wait(seconds, spin):
    if not spin:
        time.sleep(seconds)
        return
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass
