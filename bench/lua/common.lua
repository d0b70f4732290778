-- Shared by every endpoint script (bench/run.py prepends it).
-- Each wrk thread gets its own slice of the items file (tokens, slugs), so no two connections send
-- the same refresh token: a reused refresh token would revoke its family (RFC 9700 §4.14.2).

local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

items = {}
pos = 0
sent = 0

function init(args)
  -- args: items file ("-" for none), number of threads, unix time at start, then extra values
  now = tonumber(args[3]) or os.time()
  client_id = args[4]
  client_secret = args[5]
  if args[1] ~= nil and args[1] ~= "-" then
    local threads = tonumber(args[2])
    local i = 0
    for line in io.lines(args[1]) do
      if i % threads == tid then
        items[#items + 1] = line
      end
      i = i + 1
    end
    if #items == 0 then -- fewer items than threads (one user token, one login): share them
      for line in io.lines(args[1]) do
        items[#items + 1] = line
      end
    end
  end
end

function next_item()
  pos = pos + 1
  if pos > #items then
    pos = 1
  end
  return items[pos]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
