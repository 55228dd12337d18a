-- wrk script: POST pre-signed, unique Stripe events to /webhooks/stripe.
-- bench/run.py writes events-<n>.txt (one "signature<TAB>body" line per event) into
-- $BENCH_EVENTS_DIR, one file per wrk thread, so no two threads send the same event id.
-- A thread that runs out of events starts over; the portal answers those "duplicate",
-- and they are counted so run.py can report unique events per second.

local folder = os.getenv("BENCH_EVENTS_DIR")
local threads = {}
local created = 0

function setup(thread)
  thread:set("number", created)
  created = created + 1
  table.insert(threads, thread)
end

function init(args)
  events = {}
  for line in io.lines(folder .. "/events-" .. number .. ".txt") do
    local tab = line:find("\t", 1, true)
    events[#events + 1] = wrk.format("POST", "/webhooks/stripe", {
      ["Content-Type"] = "application/json; charset=utf-8",
      ["Stripe-Signature"] = line:sub(1, tab - 1),
    }, line:sub(tab + 1))
  end
  position = 0
  duplicates = 0
  failed = 0
end

function request()
  position = position % #events + 1
  return events[position]
end

function response(status, headers, body)
  if status ~= 200 then
    failed = failed + 1
  elseif body:find("duplicate", 1, true) then
    duplicates = duplicates + 1
  end
end

function done(summary, latency, requests)
  local d, f = 0, 0
  for _, thread in ipairs(threads) do
    d = d + thread:get("duplicates")
    f = f + thread:get("failed")
  end
  io.write(string.format("BENCH duplicates=%d failed=%d\n", d, f))
end
