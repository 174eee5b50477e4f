-- wrk script for the Firehose HTTP-library bake-off.
-- POSTs a 624-byte JSON webhook body to /v1/webhooks/acme with a Stripe-style
-- signature header, and prints machine-readable results in done().
wrk.method = "POST"
wrk.path   = "/v1/webhooks/acme"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Stripe-Signature"] =
  "t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"

local TARGET = 624
local head = '{"id":"evt_1OaBcDeFgHiJkLmNoPqRsTuV","object":"event","api_version":"2023-10-16",' ..
  '"created":1700000000,"type":"payment_intent.succeeded","livemode":false,"pending_webhooks":1,' ..
  '"request":{"id":"req_AbCdEfGhIjKlMn","idempotency_key":"6f1c2b9e-2d4a-4c1e-9d0b-8a7e5f3c2b1a"},' ..
  '"data":{"object":{"id":"pi_3OaBcDeFgHiJkLmN","object":"payment_intent","amount":4999,' ..
  '"currency":"usd","customer":"cus_PqRsTuVwXyZaBc","status":"succeeded","description":"'
local tail = '"}}}'
local pad = TARGET - #head - #tail
assert(pad > 0, "body template too long")
wrk.body = head .. string.rep("x", pad) .. tail
assert(#wrk.body == TARGET, "body is not 624 bytes")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d body_bytes=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, #wrk.body))
end
