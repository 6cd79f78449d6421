"""A minimal MLServer runtime serving an ONNX model with onnxruntime (MLServer ships none for ONNX): one
session, 1 intra-op thread, spinning off, like sedge's `threads: 1`. The model file is `parameters.uri` of
model-settings.json; a relative uri is resolved against $MODELS_DIR."""
import os

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxRuntime(MLModel):
    async def load(self) -> bool:
        uri = self.settings.parameters.uri
        if not os.path.isabs(uri):
            uri = os.path.join(os.environ.get("MODELS_DIR", "."), uri)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self._sess = ort.InferenceSession(uri, so, providers=["CPUExecutionProvider"])
        self._outputs = [o.name for o in self._sess.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feed = {i.name: NumpyCodec.decode_input(i).astype(np.float32, copy=False) for i in payload.inputs}
        results = self._sess.run(None, feed)
        return InferenceResponse(
            model_name=self.name,
            id=payload.id,
            outputs=[NumpyCodec.encode_output(n, r) for n, r in zip(self._outputs, results)],
        )
