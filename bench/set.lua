-- wrk script: POST /set of 100-byte values over 100,000 keys.
-- The requests are built once in init(): wrk calls request() for every
-- request, and building a string there costs wrk CPU that, on a 2-core
-- machine, the server would otherwise have.
local value = string.rep("v", 100)
local count = 100000
local requests = {}
init = function()
  for i = 1, count do
    local key = "key-" .. ((i * 7919) % count)
    requests[i] = wrk.format("POST", "/set", { ["Content-Type"] = "application/json" },
      '{"key":"' .. key .. '","val":"' .. value .. '"}')
  end
end
local counter = 0
request = function()
  counter = counter % count + 1
  return requests[counter]
end
