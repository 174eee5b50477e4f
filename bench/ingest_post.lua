-- wrk script for bench/ingest_vs_nginx.sh: POSTs precomputed, Stripe-signed webhooks (from
-- `edge_bench_server requests`, path in FIREHOSE_BENCH_REQUESTS), cycling through them, and
-- prints machine-readable results in done().
local data = dofile(os.getenv("FIREHOSE_BENCH_REQUESTS"))
local prepared = {}
local next_index = 0

function init(args)
  for k, r in ipairs(data.requests) do
    prepared[k] = wrk.format("POST", data.path,
      { ["Content-Type"] = "application/json", ["Stripe-Signature"] = r.sig }, r.body)
  end
  next_index = math.random(#prepared)  -- threads start at different requests
end

function request()
  next_index = next_index % #prepared + 1
  return prepared[next_index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d events=%d body_bytes=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, data.events, #data.requests[1].body))
end
