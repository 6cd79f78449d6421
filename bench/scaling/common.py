"""Shared pieces of bench/scaling.sh's parts (Python standard library only): start and stop `sedge up`, the
system API (deploy, scale, describe), a raw HTTP/1.1 client that times the first response byte, percentiles,
and the results file every part appends to."""

import base64
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

LISTENING = re.compile(r"listening on http://([0-9.]+):([0-9]+)")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(1, math.ceil(p / 100 * len(s)))
    return s[k - 1]


def fmt_ms(v):
    if v is None:
        return "-"
    if v < 1:
        return f"{v * 1000:.0f} µs"
    if v < 10:
        return f"{v:.2f} ms"
    if v < 100:
        return f"{v:.1f} ms"
    return f"{v:,.0f} ms"


class Results:
    """results.json in the output folder: one object per part, merged across runs of single parts."""

    def __init__(self, out):
        self.path = os.path.join(out, "results.json")
        try:
            with open(self.path) as f:
                self.data = json.load(f)
        except (OSError, ValueError):
            self.data = {}

    def put(self, part, value):
        self.data[part] = value
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)


class Sedge:
    """One `sedge up --listen 127.0.0.1:0 --state <tmp>`; the bound address is parsed from its first line."""

    def __init__(self, binary, extra_args=(), env=None, keep_state=False, logs_to=None):
        self.binary = binary
        self.state = tempfile.mkdtemp(prefix="sedge-bench-scaling-")
        self.keep_state = keep_state
        self.logs_to = logs_to
        self.stdout_path = os.path.join(self.state, "up.out")
        out = open(self.stdout_path, "w")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [binary, "up", "--listen", "127.0.0.1:0", "--state", self.state, *extra_args],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env,
            start_new_session=True)
        out.close()
        self.pid = self.proc.pid
        deadline = time.monotonic() + 30
        self.host = self.port = None
        while time.monotonic() < deadline:
            with open(self.stdout_path) as f:
                m = LISTENING.search(f.read())
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        if self.port is None:
            with open(self.stdout_path) as f:
                text = f.read()
            self.stop()
            raise RuntimeError(f"sedge up did not print its address:\n{text}")
        self.url = f"http://{self.host}:{self.port}"
        pw_file = os.path.join(self.state, "secrets", "basic-auth-password")
        for _ in range(500):
            if os.path.exists(pw_file) and self.get("/healthz")[0] == 200:
                break
            time.sleep(0.01)
        with open(pw_file) as f:
            self.password = f.read().strip()
        self.auth = "Basic " + base64.b64encode(f"admin:{self.password}".encode()).decode()

    # --- plain HTTP ------------------------------------------------------------------------------------
    def request(self, method, path, body=None, auth=False, timeout=60, headers=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        h = dict(headers or {})
        if auth:
            h["Authorization"] = self.auth
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.read(), dict((k.lower(), v) for k, v in r.getheaders())
        finally:
            c.close()

    def get(self, path, auth=False):
        try:
            s, b, _ = self.request("GET", path, auth=auth, timeout=5)
            return s, b
        except OSError:
            return 0, b""

    # --- system API ------------------------------------------------------------------------------------
    def deploy(self, spec):
        s, b, _ = self.request("POST", "/system/functions", spec, auth=True)
        if s not in (200, 202):
            raise RuntimeError(f"deploy {spec.get('service')}: {s} {b[:500]!r}")

    def scale(self, name, replicas):
        s, b, _ = self.request("POST", f"/system/scale-function/{name}",
                               {"serviceName": name, "replicas": replicas}, auth=True)
        if s not in (200, 202):
            raise RuntimeError(f"scale {name} to {replicas}: {s} {b[:300]!r}")

    def describe(self, name):
        s, b, _ = self.request("GET", f"/system/function/{name}", auth=True, timeout=10)
        if s != 200:
            raise RuntimeError(f"describe {name}: {s} {b[:300]!r}")
        return json.loads(b)

    def replicas(self, name):
        d = self.describe(name)
        return d.get("replicas"), d.get("availableReplicas")

    def wait_replicas(self, name, want, available=None, timeout=120):
        """Waits until replicas == want and availableReplicas == available (default: want)."""
        available = want if available is None else available
        deadline = time.monotonic() + timeout
        while True:
            r, a = self.replicas(name)
            if r == want and a == available:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: replicas {r}/{a} after {timeout}s, wanted {want}/{available}")
            time.sleep(0.01)

    def cpu_seconds(self):
        """utime + stime of the sedge process (its threads, not its children), from /proc/<pid>/stat."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is field 3 (state); utime is field 14, stime field 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def sched_ns(self):
        """Sum of the on-CPU time of sedge's live threads from /proc/<pid>/task/*/schedstat (ns resolution)."""
        total = 0
        for t in os.listdir(f"/proc/{self.pid}/task"):
            try:
                with open(f"/proc/{self.pid}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
        return total

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.logs_to:
            src = os.path.join(self.state, "logs")
            if os.path.isdir(src):
                shutil.rmtree(self.logs_to, ignore_errors=True)
                shutil.copytree(src, self.logs_to)
            try:
                shutil.copy(self.stdout_path, os.path.join(self.logs_to, "up.out"))
            except OSError:
                pass
        if not self.keep_state:
            shutil.rmtree(self.state, ignore_errors=True)
        else:
            log(f"state kept in {self.state}")


def raw_request(host, port, path, body, timeout=120, extra_headers=""):
    """One POST over a fresh connection (connected before the clock starts), `Connection: close`.

    Returns dict(ttfb_ms, total_ms, status, headers (lower-case), body). ttfb is from the first byte sent to
    the first byte received."""
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n{extra_headers}\r\n").encode()
    msg = head + body
    try:
        t0 = time.perf_counter()
        s.sendall(msg)
        first = s.recv(1)
        t1 = time.perf_counter()
        chunks = [first]
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
        t2 = time.perf_counter()
    finally:
        s.close()
    status, headers, payload = parse_response(b"".join(chunks))
    return {"ttfb_ms": (t1 - t0) * 1000, "total_ms": (t2 - t0) * 1000, "status": status, "headers": headers,
            "body": payload}


def parse_response(data):
    """(status, headers, body) of one whole HTTP/1.1 response read to EOF; decodes chunked bodies."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return 0, {}, data
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out, rest = [], body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            n = int(size_line.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            out.append(rest[:n])
            rest = rest[n + 2:]
        body = b"".join(out)
    return status, headers, body
