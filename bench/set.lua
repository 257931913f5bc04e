-- wrk script: POST /set of 100-byte values over 100,000 keys.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "cycle.lua")
local value = string.rep("v", 100)
local count = 100000
cycle(count, function(i)
  return wrk.format("POST", "/set", { ["Content-Type"] = "application/json" },
    '{"key":"key-' .. ((i * 7919) % count) .. '","val":"' .. value .. '"}')
end)
