-- wrk script: POST /set of the keys key-000000000000 .. key-000000999999
-- (16 bytes each) with 100-byte values, each key once; after that only
-- GET /healthz until wrk's duration ends.
-- Thread t of n writes keys t, t+n, t+2n, ...; n is $THREADS (default 2),
-- which must match wrk's -t.
local total = 1000000
local value = string.rep("v", 100)
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  n = tonumber(os.getenv("THREADS") or "2")
  index = id
  -- wrk calls request() once on the first thread before the run, to count
  -- the requests it returns, and never sends that one: give it a GET.
  if id == 0 then
    index = -n
  end
end

function request()
  if index < 0 then
    index = index + n
    return wrk.format("GET", "/healthz")
  end
  if index >= total then
    return wrk.format("GET", "/healthz")
  end
  local key = string.format("key-%012d", index)
  index = index + n
  return wrk.format("POST", "/set", { ["Content-Type"] = "application/json" },
    '{"key":"' .. key .. '","val":"' .. value .. '"}')
end
