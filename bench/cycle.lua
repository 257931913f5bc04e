-- Shared by the wrk scripts: cycle(count, build) builds `count` requests
-- once, in init(), with build(i) for i = 1 .. count, and makes request()
-- return them in turn. wrk calls request() for every request; building a
-- string there costs wrk CPU that, on a 2-core machine, the server would
-- otherwise have.
function cycle(count, build)
  local requests = {}
  init = function()
    for i = 1, count do
      requests[i] = build(i)
    end
  end
  local counter = 0
  request = function()
    counter = counter % count + 1
    return requests[counter]
  end
end
