"""Tests of the templates' sedge.py against a local standard-library HTTP server that plays the registry API.

    python3 -m unittest discover -s crates/runtime/templates/tests      # from the repository root
    python3 crates/runtime/templates/tests/test_sedge.py                # the same, directly

The server checks what a real gateway relies on: an explicit Content-Length and no chunked encoding, the body's
exact length, the multipart layout (a `metadata` JSON part first, then the `file` part), and the file's sha256
against the digest in the metadata.
"""
import base64
import hashlib
import json
import os
import sys
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import sedge  # noqa: E402


def parse_multipart(content_type, body):
    """[(headers dict with lower-case keys, content bytes)] of a multipart/form-data body, strictly."""
    kind, _, params = content_type.partition(";")
    assert kind.strip() == "multipart/form-data", content_type
    boundary = params.strip()
    assert boundary.startswith("boundary="), content_type
    delimiter = b"--" + boundary[len("boundary=") :].encode("ascii")
    assert body.startswith(delimiter + b"\r\n"), body[:80]
    assert body.endswith(b"\r\n" + delimiter + b"--\r\n"), body[-80:]
    inner = body[len(delimiter) + 2 : -(len(delimiter) + 6)]
    parts = []
    for raw in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, sep, content = raw.partition(b"\r\n\r\n")
        assert sep, raw[:80]
        headers = {}
        for line in head.decode("ascii").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        parts.append((headers, content))
    return parts


def disposition_name(headers):
    for item in headers["content-disposition"].split(";")[1:]:
        key, _, value = item.strip().partition("=")
        if key == "name":
            return value.strip('"')
    return None


class Registry:
    """What the fake gateway saw, and what it answers next."""

    def __init__(self):
        self.requests = []
        self.next_status = None  # e.g. (401, {"error": "…"}) for the next request
        self.version = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, payload):
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        registry = self.server.registry
        length = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        body = self.rfile.read(int(length)) if length is not None else b""
        seen = {"path": self.path, "headers": dict(self.headers.items()), "body": body, "chunked": chunked,
                "length": length}
        registry.requests.append(seen)
        if length is None or chunked:
            return self.answer(411, {"error": "Content-Length required"})
        if registry.next_status:
            status, payload = registry.next_status
            registry.next_status = None
            return self.answer(status, payload)
        if not self.headers.get("Authorization"):
            return self.answer(401, {"error": "missing credentials"})
        if self.path.endswith("/stage"):
            stage = json.loads(body)["stage"]
            name, version = self.path.split("/")[3], int(self.path.split("/")[5])
            return self.answer(200, {"name": name, "version": version, "stage": stage})
        if self.path != "/system/models":
            return self.answer(404, {"error": "no route"})
        parts = parse_multipart(self.headers["Content-Type"], body)
        seen["parts"] = parts
        names = [disposition_name(h) for h, _ in parts]
        if names != ["metadata", "file"]:
            return self.answer(400, {"error": "parts %s" % names})
        metadata = json.loads(parts[0][1])
        content = parts[1][1]
        digest = hashlib.sha256(content).hexdigest()
        if metadata.get("sha256") and metadata["sha256"] != digest:
            return self.answer(400, {"error": "sha256 mismatch"})
        registry.version += 1
        self.answer(201, {"id": registry.version, "name": metadata["name"], "version": registry.version,
                          "stage": "none", "sha256": digest, "size_bytes": len(content),
                          "metrics": metadata.get("metrics", {})})


class SedgePyTest(unittest.TestCase):
    def setUp(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.registry = self.registry = Registry()
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.tmp = tempfile.TemporaryDirectory()
        self.model = os.path.join(self.tmp.name, "model v1.onnx")
        with open(self.model, "wb") as f:
            f.write(os.urandom(3 * 1024 * 1024 + 17))  # several chunks, not a multiple of the chunk size
        self.env = {"SEDGE_GATEWAY_URL": self.url, "SEDGE_API_TOKEN": "tok-123",
                    "SEDGE_FUNCTION_NAME": "train.openfaas-fn", "SEDGE_STATE": os.path.join(self.tmp.name, "none")}

    def tearDown(self):
        self.stop_server()
        self.tmp.cleanup()

    def stop_server(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def client(self, **kwargs):
        return sedge.Client(environ=self.env, **kwargs)

    def test_register_streams_metadata_then_file_with_its_digest(self):
        record = self.client().register_model(
            self.model, "ionosphere", metrics={"accuracy": 0.93, "loss": 0.2, "epochs": 30}, dataset="ionosphere",
            architecture="mlp", params={"hidden": [10, 8]})
        self.assertEqual(record["version"], 1)
        self.assertEqual(record["stage"], "none")
        seen = self.registry.requests[0]
        self.assertFalse(seen["chunked"])
        self.assertEqual(int(seen["length"]), len(seen["body"]))
        self.assertEqual(seen["headers"]["Authorization"], "Bearer tok-123")
        (meta_headers, meta), (file_headers, content) = seen["parts"]
        self.assertEqual(meta_headers["content-type"], "application/json")
        self.assertEqual(file_headers["content-type"], "application/octet-stream")
        self.assertIn('filename="model_v1.onnx"', file_headers["content-disposition"])
        with open(self.model, "rb") as f:
            expected = f.read()
        self.assertEqual(content, expected)
        self.assertEqual(json.loads(meta), {
            "name": "ionosphere", "format": "onnx", "architecture": "mlp", "dataset": "ionosphere",
            "accuracy": 0.93, "loss": 0.2, "metrics": {"accuracy": 0.93, "loss": 0.2, "epochs": 30},
            "params": {"hidden": [10, 8]}, "created_by": "train.openfaas-fn",
            "sha256": hashlib.sha256(expected).hexdigest()})
        self.assertEqual(record["sha256"], hashlib.sha256(expected).hexdigest())

    def test_body_is_produced_in_chunks_of_the_declared_total_length(self):
        content_type, length, body = sedge.multipart_body({"name": "m"}, self.model, boundary="B", chunk_size=4096)
        self.assertEqual(content_type, "multipart/form-data; boundary=B")
        chunks = list(body)
        self.assertEqual(sum(map(len, chunks)), length)
        file_chunks = chunks[1:-1]
        self.assertEqual(len(file_chunks), -(-os.path.getsize(self.model) // 4096))
        self.assertTrue(all(len(c) <= 4096 for c in file_chunks))

    def test_server_message_is_raised(self):
        self.registry.next_status = (400, {"error": "sha256 mismatch: file is abc…, metadata says def…"})
        with self.assertRaises(sedge.SedgeError) as caught:
            self.client().register_model(self.model, "ionosphere")
        self.assertEqual(caught.exception.status, 400)
        self.assertIn("sha256 mismatch: file is abc", str(caught.exception))

    def test_plain_text_errors_keep_their_text(self):
        self.registry.next_status = (404, "unknown model")
        with self.assertRaises(sedge.SedgeError) as caught:
            self.client().promote("nope", 3)
        self.assertEqual(caught.exception.status, 404)
        self.assertIn("unknown model", str(caught.exception))

    def test_without_credentials_the_gateway_says_401(self):
        env = {"SEDGE_GATEWAY_URL": self.url, "SEDGE_STATE": os.path.join(self.tmp.name, "none")}
        with self.assertRaises(sedge.SedgeError) as caught:
            sedge.Client(environ=env).register_model(self.model, "ionosphere")
        self.assertEqual(caught.exception.status, 401)
        self.assertNotIn("Authorization", self.registry.requests[0]["headers"])

    def test_basic_auth_from_the_openfaas_secret_files(self):
        secrets = os.path.join(self.tmp.name, "secrets")
        os.mkdir(secrets)
        for name, value in (("basic-auth-user", "admin\n"), ("basic-auth-password", "pa55\n")):
            with open(os.path.join(secrets, name), "w") as f:
                f.write(value)
        env = {"OPENFAAS_URL": self.url, "SEDGE_SECRETS_DIR": secrets}
        sedge.Client(environ=env).register_model(self.model, "ionosphere")
        expected = "Basic " + base64.b64encode(b"admin:pa55").decode()
        self.assertEqual(self.registry.requests[0]["headers"]["Authorization"], expected)
        # SEDGE_PASSWORD wins over the files; the token wins over both.
        self.assertEqual(sedge.Client(environ=dict(env, SEDGE_PASSWORD="x")).authorization,
                         "Basic " + base64.b64encode(b"admin:x").decode())
        self.assertEqual(sedge.Client(environ=dict(env, SEDGE_API_TOKEN="t")).authorization, "Bearer t")

    def test_register_and_promote(self):
        record = self.client().register_model(self.model, "iono sphere", promote="production")
        self.assertEqual((record["name"], record["version"], record["stage"]), ("iono%20sphere", 1, "production"))
        self.assertEqual(record["size_bytes"], os.path.getsize(self.model))  # from the registration's answer
        stage = self.registry.requests[1]
        self.assertEqual(stage["path"], "/system/models/iono%20sphere/versions/1/stage")
        self.assertEqual(json.loads(stage["body"]), {"stage": "production"})
        self.assertEqual(stage["headers"]["Content-Type"], "application/json")

    def test_numpy_like_metrics_become_numbers(self):
        class Scalar:
            def __init__(self, v):
                self.v = v

            def item(self):
                return self.v

        self.client().register_model(self.model, "m", metrics={"accuracy": Scalar(0.5)})
        meta = json.loads(self.registry.requests[0]["parts"][0][1])
        self.assertEqual((meta["accuracy"], meta["metrics"]), (0.5, {"accuracy": 0.5}))

    def test_gateway_settings(self):
        env = {"SEDGE_GATEWAY": "http://b:2", "OPENFAAS_URL": "http://c:3"}
        self.assertEqual(sedge.Client(environ=env).gateway, "http://b:2")
        self.assertEqual(sedge.Client(environ=dict(env, SEDGE_GATEWAY_URL="http://a:1/")).gateway, "http://a:1")
        self.assertEqual(sedge.Client(environ={}).gateway, "http://127.0.0.1:8080")
        with self.assertRaises(sedge.SedgeError):
            sedge.Client(gateway="127.0.0.1:8080", environ={})

    def test_unreachable_gateway(self):
        self.stop_server()
        with self.assertRaises(sedge.SedgeError) as caught:
            self.client().register_model(self.model, "m")
        self.assertIsNone(caught.exception.status)

    def test_missing_file(self):
        with self.assertRaises(sedge.SedgeError):
            self.client().register_model(os.path.join(self.tmp.name, "absent.onnx"), "m")


if __name__ == "__main__":
    unittest.main()
