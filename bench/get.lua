-- wrk script: GET /get?key= over the 10,000 keys `client bench set
-- --keys 10000` writes (bench:00000000 .. bench:00009999), in a scattered
-- order.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "cycle.lua")
local count = 10000
cycle(count, function(i)
  return wrk.format("GET", string.format("/get?key=bench:%08d", (i * 7919) % count))
end)
