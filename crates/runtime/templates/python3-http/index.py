# sedge python3-http template: of-watchdog http mode, one long-running server per replica.
#
# Same handler signature and response rules as OpenFaaS's python3-http template, served with the Python
# standard library only (no Flask, no waitress): an HTTP/1.1 keep-alive server on 127.0.0.1:$PORT.
# GET /_/health answers 200 "OK"; every other path and method goes to handler.handle(event, context).
#
# main() is the whole replica: `python3 index.py` runs it, and so does a child of sedge's fork server (prebake),
# which imports this module once and calls main() in a fresh fork per replica start, with PORT set.
import json
import os
import signal
import socket
import sys
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from function import handler


class Event:
    """The request as the handler sees it."""

    def __init__(self, body, headers, method, query, path):
        self.body = body
        self.headers = headers
        self.method = method
        self.query = query
        self.path = path


class Context:
    """Facts about the replica."""

    def __init__(self):
        self.hostname = os.getenv("HOSTNAME", "localhost")


class Query(dict):
    """Query parameters: the first value of each key, as Flask's request.args.get gives; getlist for all."""

    def __init__(self, query_string):
        self._lists = urllib.parse.parse_qs(query_string, keep_blank_values=True)
        super().__init__((key, values[0]) for key, values in self._lists.items())

    def getlist(self, key):
        return list(self._lists.get(key, []))


def format_body(body, headers):
    """The response body as bytes; a dict or list becomes JSON (and sets Content-Type when unset)."""
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, (dict, list)):
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", "application/json"))
        return json.dumps(body).encode("utf-8")
    return str(body).encode("utf-8")


def format_headers(raw):
    """Headers from a dict or a list of pairs."""
    if not raw:
        return []
    if isinstance(raw, dict):
        return [(str(k), str(v)) for k, v in raw.items()]
    return [(str(k), str(v)) for k, v in raw]


def format_response(res):
    """(status, headers, body bytes) from what the handler returned, as OpenFaaS's template does."""
    if res is None:
        return 200, [], b""
    if isinstance(res, dict):
        headers = format_headers(res.get("headers"))
        body = format_body(res.get("body"), headers)
        return int(res.get("statusCode", 200)), headers, body
    if isinstance(res, (bytes, bytearray)):
        return 200, [], bytes(res)
    return 200, [], str(res).encode("utf-8")


# Headers the server sets itself; a handler's own values for them are dropped.
HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sedge-python3-http"
    sys_version = ""
    # Buffer writes so that headers and a small body leave in one packet; the base class flushes per request.
    wbufsize = -1

    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def log_message(self, format, *args):
        pass

    def log_error(self, format, *args):
        sys.stderr.write("python3-http: " + (format % args) + "\n")

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def respond(self, status, headers, body):
        self.send_response(status)
        content_type = False
        for key, value in headers:
            if key.lower() in HOP_HEADERS:
                continue
            content_type = content_type or key.lower() == "content-type"
            self.send_header(key, value)
        if not content_type:
            self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        try:
            body = self.read_body()
        except (ValueError, OSError) as e:
            self.close_connection = True
            self.respond(400, [("Content-Type", "text/plain")], ("bad request body: %s" % e).encode("utf-8"))
            return
        if self.command == "GET" and url.path == "/_/health":
            self.respond(200, [("Content-Type", "text/plain")], b"OK")
            return
        event = Event(body, self.headers, self.command, Query(url.query), urllib.parse.unquote(url.path))
        try:
            status, headers, out = format_response(handler.handle(event, Context()))
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            status, headers, out = 500, [("Content-Type", "text/plain")], str(e).encode("utf-8")
        self.respond(status, headers, out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = dispatch


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def main():
    port = int(os.getenv("PORT", "5000"))
    server = Server(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
