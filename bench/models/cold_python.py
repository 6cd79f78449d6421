"""The seeds' handler pattern, as a fresh process: import onnxruntime, load MODEL, answer one OIP v2 JSON
request (REQUEST.json) on stdout. Timed whole (`hyperfine 'python cold_python.py …'`) for the cold-start peer.

    python cold_python.py MODEL.onnx REQUEST.json
"""
import json
import sys

import numpy as np
import onnxruntime as ort

so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.add_session_config_entry("session.intra_op.allow_spinning", "0")
sess = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
with open(sys.argv[2]) as f:
    req = json.load(f)
feed = {i["name"]: np.asarray(i["data"], dtype=np.float32).reshape(i["shape"]) for i in req["inputs"]}
outs = sess.run(None, feed)
json.dump({"outputs": [{"name": o.name, "shape": list(r.shape), "datatype": "FP32", "data": r.ravel().tolist()}
                       for o, r in zip(sess.get_outputs(), outs)]}, sys.stdout)
