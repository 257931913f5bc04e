-- wrk script: 90% GET /get?key=, 10% POST /set (100-byte values), over the
-- 10,000 keys `client bench set --keys 10000` writes.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "cycle.lua")
local value = string.rep("v", 100)
local count = 10000
cycle(count, function(i)
  local key = string.format("bench:%08d", (i * 7919) % count)
  if i % 10 == 0 then
    return wrk.format("POST", "/set", { ["Content-Type"] = "application/json" },
      '{"key":"' .. key .. '","val":"' .. value .. '"}')
  end
  return wrk.format("GET", "/get?key=" .. key)
end)
