-- wrk script: POST /set of 64 KiB values over 64 keys (a 4 MiB store), for
-- bench/watch-stalled.sh. Each value differs in its first bytes.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "cycle.lua")
local fill = string.rep("v", 64 * 1024 - 8)
local count = 64
cycle(count, function(i)
  return wrk.format("POST", "/set", { ["Content-Type"] = "application/json" },
    '{"key":"big-' .. i .. '","val":"' .. string.format("%08d", i) .. fill .. '"}')
end)
