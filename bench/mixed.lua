-- wrk script: 90% GET /get?key=, 10% POST /set (100-byte values), over the
-- 10,000 keys `client bench set --keys 10000` writes. The requests are
-- built once in init() (see set.lua).
local value = string.rep("v", 100)
local count = 10000
local requests = {}
init = function()
  for i = 1, count do
    local key = string.format("bench:%08d", (i * 7919) % count)
    if i % 10 == 0 then
      requests[i] = wrk.format("POST", "/set", { ["Content-Type"] = "application/json" },
        '{"key":"' .. key .. '","val":"' .. value .. '"}')
    else
      requests[i] = wrk.format("GET", "/get?key=" .. key)
    end
  end
end
local counter = 0
request = function()
  counter = counter % count + 1
  return requests[counter]
end
