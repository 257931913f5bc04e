-- wrk script: GET /get?key= over the 10,000 keys `client bench set
-- --keys 10000` writes (bench:00000000 .. bench:00009999), in a scattered order.
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", string.format("/get?key=bench:%08d", (counter * 7919) % 10000))
end
