-- wrk script used by run.py: POST one JSON body per request, cycling through a file of bodies
-- (one per line), and print the result as one JSON line prefixed "WRK_JSON ".
--
--   wrk -t1 -c8 -d10s -s bench/serving/wrk_post.lua URL -- BODIES_FILE 'Token KEY'
--
-- No response() callback on purpose: defining one makes wrk parse every response body into
-- Lua, which costs client CPU the server then cannot use. wrk counts a status >= 400 as a
-- status error on its own.

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  if args[2] and args[2] ~= "" then
    headers["Authorization"] = args[2]
  end
  prepared = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      prepared[#prepared + 1] = wrk.format("POST", nil, headers, line)
    end
  end
  -- Threads start at different rows so concurrent requests carry different data.
  cursor = (thread_index * 7919) % #prepared
end

function request()
  cursor = cursor % #prepared + 1
  return prepared[cursor]
end

function done(summary, latency, requests)
  local e = summary.errors
  local ms = function(us) return us / 1000.0 end
  io.write(string.format(
    'WRK_JSON {"client": "wrk", "elapsed_s": %.6f, "requests": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_ms": {"mean": %.3f, "p50": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f}}\n',
    summary.duration / 1e6, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    ms(latency.mean), ms(latency:percentile(50)), ms(latency:percentile(90)),
    ms(latency:percentile(99)), ms(latency.max)))
end
