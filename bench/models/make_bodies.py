"""Turns an OIP v2 JSON request (a fixture) into the binary tensor extension's form: a JSON header whose inputs
carry `binary_data_size`, followed by the raw little-endian tensor bytes. Outputs are asked for as JSON.

    python make_bodies.py IN.json OUT.bin     # prints the header's length (Inference-Header-Content-Length)
"""
import json
import sys

import numpy as np

DTYPES = {"FP32": "<f4", "FP64": "<f8", "INT64": "<i8", "INT32": "<i4", "UINT8": "u1"}


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        req = json.load(f)
    blobs = []
    for inp in req["inputs"]:
        data = np.asarray(inp.pop("data"), dtype=DTYPES[inp["datatype"]]).reshape(inp["shape"])
        blob = data.tobytes()
        inp.setdefault("parameters", {})["binary_data_size"] = len(blob)
        blobs.append(blob)
    header = json.dumps(req, separators=(",", ":")).encode()
    with open(dst, "wb") as f:
        f.write(header)
        for b in blobs:
            f.write(b)
    print(len(header))


if __name__ == "__main__":
    main()
