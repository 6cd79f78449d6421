# sedge's helper for functions: register a trained model in sedge's model registry (standard library only).
#
#     import sedge
#     v = sedge.register_model("/tmp/model.onnx", "ionosphere", metrics={"accuracy": 0.93, "loss": 0.21},
#                              dataset="ionosphere", architecture="mlp", params={"epochs": 150})
#     sedge.promote("ionosphere", v["version"])          # stage "production": served by registry:ionosphere@production
#
# Both python templates put this file beside index.py, so a handler imports it as `sedge`. It uploads with
# `POST /system/models` (multipart: a `metadata` JSON part, then the `file` part, streamed from disk in chunks
# with its length computed up front; the file's sha256 rides in the metadata and the gateway checks it) and
# raises SedgeError with the gateway's message on any answer other than 2xx.
#
# Where and as whom, first found wins:
# - gateway: SEDGE_GATEWAY_URL (set by sedge for every process function), SEDGE_GATEWAY, OPENFAAS_URL,
#   else http://127.0.0.1:8080;
# - credentials: SEDGE_API_TOKEN (set by sedge for every process function; sent as `Authorization: Bearer`),
#   else basic auth as SEDGE_USER (default admin) with SEDGE_PASSWORD, else the user and password files
#   `basic-auth-user` / `basic-auth-password` (OpenFaaS's secret names) in $SEDGE_SECRETS_DIR, in
#   $SEDGE_STATE/secrets (default ./.sedge/secrets, where `sedge up` writes them) or in /var/openfaas/secrets.
# SEDGE_FUNCTION_NAME (set by sedge) is recorded as the version's `created_by`. `sedge.Client(gateway=…,
# token=… | user=…, password=…)` takes them explicitly and has the same two methods.
import base64
import hashlib
import http.client
import json
import os
import urllib.parse
import uuid

__all__ = ["Client", "SedgeError", "promote", "register_model"]

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
# Bytes read from the model file per send.
CHUNK_SIZE = 1 << 20
SECRET_DIRS = ("/var/openfaas/secrets",)


class SedgeError(Exception):
    """A call to the gateway failed: `status` is the HTTP status (None when no answer came), the message the
    gateway's own (its JSON `error` or `message` field, or the body's text)."""

    def __init__(self, message, status=None, body=None):
        super().__init__(message)
        self.status = status
        self.body = body


def _read_secret(dirs, name):
    for d in dirs:
        if not d:
            continue
        try:
            with open(os.path.join(d, name), encoding="utf-8") as f:
                value = f.read().strip()
        except OSError:
            continue
        if value:
            return value
    return None


def _json_default(value):
    """numpy scalars and arrays (anything with .item() / .tolist()) become plain JSON numbers and lists."""
    for method in ("item", "tolist"):
        if callable(getattr(value, method, None)):
            try:
                return getattr(value, method)()
            except (TypeError, ValueError):
                pass
    raise TypeError("%s is not JSON serialisable" % type(value).__name__)


def _error_message(status, reason, body):
    text = body.decode("utf-8", errors="replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("error", "message"):
            if isinstance(parsed.get(key), str):
                text = parsed[key]
                break
    return "%s %s: %s" % (status, reason, text) if text else "%s %s" % (status, reason)


def _filename(path):
    """The file part's filename: the base name with anything but [A-Za-z0-9._-] replaced."""
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in os.path.basename(path))
    return name or "model"


def sha256_file(path, chunk_size=None):
    """The file's sha256 as hex, read in chunks."""
    chunk_size = chunk_size or CHUNK_SIZE
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(chunk_size)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)


def multipart_body(metadata, path, boundary=None, chunk_size=None):
    """(content type, content length, iterable of bytes) for a `metadata` JSON part followed by a `file` part
    holding the file at `path`; the file is read while the iterable is consumed, `chunk_size` bytes at a time."""
    boundary = boundary or "sedge-" + uuid.uuid4().hex
    chunk_size = chunk_size or CHUNK_SIZE
    meta = json.dumps(metadata, default=_json_default).encode("utf-8")
    head = (
        "--%s\r\n"
        'Content-Disposition: form-data; name="metadata"\r\n'
        "Content-Type: application/json\r\n\r\n" % boundary
    ).encode("ascii") + meta + (
        "\r\n--%s\r\n"
        'Content-Disposition: form-data; name="file"; filename="%s"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n" % (boundary, _filename(path))
    ).encode("ascii")
    tail = ("\r\n--%s--\r\n" % boundary).encode("ascii")
    size = os.path.getsize(path)

    def chunks():
        yield head
        left = size
        with open(path, "rb") as f:
            while left > 0:
                chunk = f.read(min(chunk_size, left))
                if not chunk:
                    raise SedgeError("%s shrank while it was being uploaded" % path)
                left -= len(chunk)
                yield chunk
        yield tail

    return "multipart/form-data; boundary=%s" % boundary, len(head) + size + len(tail), chunks()


class Client:
    """A connection's settings: the gateway's base URL and the Authorization header. `Client()` reads them
    from the environment (see the top of this file); any argument given wins."""

    def __init__(self, gateway=None, token=None, user=None, password=None, timeout=300.0, environ=None):
        env = os.environ if environ is None else environ
        self.gateway = (
            gateway
            or env.get("SEDGE_GATEWAY_URL")
            or env.get("SEDGE_GATEWAY")
            or env.get("OPENFAAS_URL")
            or DEFAULT_GATEWAY
        ).rstrip("/")
        self.timeout = timeout
        self.created_by = env.get("SEDGE_FUNCTION_NAME") or None
        token = token or (None if user or password else env.get("SEDGE_API_TOKEN"))
        if token:
            self.authorization = "Bearer " + token
        else:
            dirs = [
                env.get("SEDGE_SECRETS_DIR"),
                os.path.join(env.get("SEDGE_STATE") or ".sedge", "secrets"),
                *SECRET_DIRS,
            ]
            user = user or env.get("SEDGE_USER") or _read_secret(dirs, "basic-auth-user") or "admin"
            password = password or env.get("SEDGE_PASSWORD") or _read_secret(dirs, "basic-auth-password")
            if password:
                pair = ("%s:%s" % (user, password)).encode("utf-8")
                self.authorization = "Basic " + base64.b64encode(pair).decode("ascii")
            else:
                self.authorization = None
        url = urllib.parse.urlsplit(self.gateway)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise SedgeError("gateway URL %r is not http(s)://host[:port]" % self.gateway)
        self._url = url

    def request(self, method, path, body=None, headers=None, length=None):
        """Sends one request to the gateway and returns the answer's JSON (None when empty). `body` is bytes or
        an iterable of bytes (then `length` is its total size). Raises SedgeError on a non-2xx answer."""
        url = self._url
        conn_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = conn_class(url.hostname, url.port, timeout=self.timeout)
        target = url.path.rstrip("/") + path
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            all_headers = {"Accept": "application/json", "User-Agent": "sedge.py"}
            if self.authorization:
                all_headers["Authorization"] = self.authorization
            all_headers.update(headers or {})
            if isinstance(body, (bytes, bytearray)):
                length = len(body)
                body = [bytes(body)]
            all_headers["Content-Length"] = str(length or 0)
            for key, value in all_headers.items():
                conn.putheader(key, value)
            try:
                conn.endheaders()
            except OSError as e:
                raise SedgeError("could not reach the gateway at %s: %s" % (self.gateway, e)) from e
            send_error = None
            try:
                for chunk in body or ():
                    conn.send(chunk)
            except OSError as e:
                # The gateway may have answered (and closed) before taking the whole body, e.g. 401 or 413:
                # read that answer below if it is there.
                send_error = e
            try:
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as e:
                cause = send_error or e
                raise SedgeError("%s %s%s failed: %s" % (method, self.gateway, path, cause)) from cause
            if not 200 <= response.status < 300:
                raise SedgeError(_error_message(response.status, response.reason, data), response.status, data)
            if not data.strip():
                return None
            try:
                return json.loads(data)
            except ValueError:
                return data.decode("utf-8", errors="replace")
        finally:
            conn.close()

    def register_model(
        self,
        path,
        name,
        metrics=None,
        dataset=None,
        architecture=None,
        params=None,
        format="onnx",
        promote=None,
    ):
        """Uploads the model file at `path` as a new version of `name` and returns that version (the gateway's
        JSON: id, name, version, stage, sha256, size_bytes, metrics, …). `metrics` is a dict (its `accuracy` and
        `loss`, when present, are also the version's own columns), `params` the training settings. With
        `promote="production"` (or another stage) the new version is then promoted (the record returned is updated
        with the promotion's answer)."""
        if not name:
            raise SedgeError("register_model needs a model name")
        if not os.path.isfile(path):
            raise SedgeError("no model file at %s" % path)
        metrics = dict(metrics or {})
        metadata = {
            "name": name,
            "format": format,
            "architecture": architecture,
            "dataset": dataset,
            "accuracy": metrics.get("accuracy"),
            "loss": metrics.get("loss"),
            "metrics": metrics or None,
            "params": dict(params) if params else None,
            "created_by": self.created_by,
            "sha256": sha256_file(path),
        }
        metadata = {k: v for k, v in metadata.items() if v is not None}
        content_type, length, body = multipart_body(metadata, path)
        record = self.request(
            "POST", "/system/models", body=body, length=length, headers={"Content-Type": content_type}
        )
        if not isinstance(record, dict):
            raise SedgeError("the gateway answered the upload with %r, not a version record" % (record,))
        if promote:
            promoted = self.promote(name, record["version"], stage=promote)
            record = dict(record, **promoted) if isinstance(promoted, dict) else dict(record, stage=promote)
        return record

    def promote(self, name, version, stage="production"):
        """Moves version `version` of `name` to `stage` (`production` archives the previous production version);
        returns the gateway's answer."""
        path = "/system/models/%s/versions/%s/stage" % (urllib.parse.quote(str(name), safe=""), int(version))
        body = json.dumps({"stage": stage}).encode("utf-8")
        return self.request("POST", path, body=body, headers={"Content-Type": "application/json"})


def register_model(path, name, metrics=None, dataset=None, architecture=None, params=None, format="onnx",
                   promote=None):
    """Client().register_model(…): settings from the environment."""
    return Client().register_model(
        path, name, metrics=metrics, dataset=dataset, architecture=architecture, params=params, format=format,
        promote=promote,
    )


def promote(name, version, stage="production"):
    """Client().promote(…): settings from the environment."""
    return Client().promote(name, version, stage=stage)
