"""Reads sedge's /metrics and prints, for one model function, the totals of its engine-call histograms:
`inference_sum_s inference_count batch_sum batch_count` (sedge_model_inference_seconds, sedge_model_batch_size).
Two snapshots around a load run give the mean engine time per call and the mean batch size.

    python prom.py http://127.0.0.1:PORT/metrics FUNCTION_NAME
"""
import re
import sys
import urllib.request

text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
fn = sys.argv[2]
vals = {}
for line in text.splitlines():
    m = re.match(r'(sedge_model_(?:inference_seconds|batch_size)_(?:sum|count))\{([^}]*)\} (\S+)', line)
    if m and re.search(r'function_name="%s(\.[^"]*)?"' % re.escape(fn), m.group(2)):
        vals[m.group(1)] = float(m.group(3))
print(" ".join(str(vals.get(k, 0)) for k in (
    "sedge_model_inference_seconds_sum", "sedge_model_inference_seconds_count",
    "sedge_model_batch_size_sum", "sedge_model_batch_size_count")))
