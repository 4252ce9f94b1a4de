-- The requests of one `make bench` scenario, and its result line. Used by bench/run.py as
--   BENCH_TOKEN=... wrk -t T -c C -d D --timeout D --latency -s bench/wrk.lua URL -- MODE [LOW HIGH]
-- MODE: get (the URL as is), one (GET <URL><id>), patch (PATCH <URL><id> with a description that changes at every
-- request), create (POST <URL> with a new incident). <id> is random in [LOW, HIGH].
-- Every request carries `Authorization: Bearer $BENCH_TOKEN` (the naive app ignores it).

local counter = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "get"
  low = tonumber(args[2] or "1")
  high = tonumber(args[3] or "1")
  math.randomseed(os.time() * 100 + (thread_id or 0))
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
  wrk.headers["Accept"] = "application/json"
  if mode == "patch" or mode == "create" then
    wrk.headers["Content-Type"] = "application/json"
  end
  fixed = wrk.format(nil, wrk.path)
end

function request()
  if mode == "get" then
    return fixed
  end
  counter = counter + 1
  if mode == "one" then
    return wrk.format("GET", wrk.path .. math.random(low, high))
  elseif mode == "patch" then
    -- A new value at every request, so each PATCH is a real change that writes its audit event.
    local body = string.format('{"description": "Benchmark edit %d-%d-%d"}', thread_id or 0, counter, os.time())
    return wrk.format("PATCH", wrk.path .. math.random(low, high), nil, body)
  elseif mode == "create" then
    local severities = { "SEV1", "SEV2", "SEV3", "SEV4" }
    local body = string.format(
      '{"title": "Benchmark incident %d-%d", "service": "bench-service", "severity": "%s", '
        .. '"description": "Created by make bench."}',
      thread_id or 0, counter, severities[math.random(1, 4)])
    return wrk.format("POST", wrk.path, nil, body)
  end
  return fixed
end

-- One line that bench/run.py parses: key=value pairs, times in microseconds.
function done(summary, latency, requests)
  local e = summary.errors
  local n = summary.requests
  local p = function(q) if n > 0 then return latency:percentile(q) else return -1 end end
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p95_us=%d p99_us=%d max_us=%d "
      .. "connect=%d read=%d write=%d timeout=%d status=%d\n",
    n, summary.duration, summary.bytes, p(50), p(95), p(99), (n > 0) and latency.max or -1,
    e.connect, e.read, e.write, e.timeout, e.status))
end
