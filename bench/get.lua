-- wrk script: GET /get?key= over the 10,000 keys `client bench set
-- --keys 10000` writes (bench:00000000 .. bench:00009999), in a scattered
-- order. The requests are built once in init() (see set.lua).
local count = 10000
local requests = {}
init = function()
  for i = 1, count do
    requests[i] = wrk.format("GET", string.format("/get?key=bench:%08d", (i * 7919) % count))
  end
end
local counter = 0
request = function()
  counter = counter % count + 1
  return requests[counter]
end
