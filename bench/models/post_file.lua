-- wrk script: POST the file named by $BODY (an OIP v2 request) to the URL given to wrk.
-- With $HEADER_LEN set, the body uses the binary tensor extension and the header
-- Inference-Header-Content-Length: $HEADER_LEN is sent; otherwise Content-Type is application/json.
-- Responses other than 200 are counted and reported at the end (wrk itself only counts non-2xx).
local path = os.getenv("BODY") or error("set BODY to the request file")
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
local header_len = os.getenv("HEADER_LEN")
if header_len and header_len ~= "" then
  wrk.headers["Content-Type"] = "application/octet-stream"
  wrk.headers["Inference-Header-Content-Length"] = header_len
else
  wrk.headers["Content-Type"] = "application/json"
end
