-- wrk script: 90% GET /get?key=, 10% POST /set (100-byte values), over the
-- 10,000 keys `client bench set --keys 10000` writes.
local value = string.rep("v", 100)
local counter = 0
request = function()
  counter = counter + 1
  local key = string.format("bench:%08d", (counter * 7919) % 10000)
  if counter % 10 == 0 then
    return wrk.format("POST", "/set", { ["Content-Type"] = "application/json" },
      '{"key":"' .. key .. '","val":"' .. value .. '"}')
  end
  return wrk.format("GET", "/get?key=" .. key)
end
