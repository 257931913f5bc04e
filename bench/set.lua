-- wrk script: POST /set of 100-byte values over 100,000 keys.
local value = string.rep("v", 100)
local counter = 0
request = function()
  counter = counter + 1
  local key = "key-" .. ((counter * 7919) % 100000)
  return wrk.format("POST", "/set", { ["Content-Type"] = "application/json" },
    '{"key":"' .. key .. '","val":"' .. value .. '"}')
end
