-- Loaded by run.py with `wrk -s bench/wrk_report.lua`: prints wrk's summary as one JSON line.
-- Only done() is defined, so wrk keeps its fast path (no per-request Lua), unless WRK_DELAY_MS is set.
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d,"err_status":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max,
    summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
end

-- WRK_DELAY_MS (milliseconds): each connection waits that long after an answer before its next request.
local pace = tonumber(os.getenv("WRK_DELAY_MS") or "")
if pace then
  delay = function() return pace end
end
