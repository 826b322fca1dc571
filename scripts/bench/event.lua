-- One productViewed event per request, spread over 10 000 contacts.
local counter = 0
local key = os.getenv("VESTNIK_BENCH_KEY")

function setup(thread)
  thread:set("offset", math.random(0, 1000000))
end

request = function()
  counter = counter + 1
  local email = "u" .. ((counter + offset) % 10000) .. "@bench.test"
  local product = (counter % 500)
  local body = '{"eventTypeKey":"productViewed","keyValue":"' .. email .. '","params":[' ..
    '{"name":"email","value":"' .. email .. '"},' ..
    '{"name":"product","value":"{\\"productId\\":\\"P' .. product .. '\\",\\"price\\":' .. (100 + product) .. '}"}]}'
  return wrk.format("POST", nil, {["content-type"] = "application/json", ["api-key"] = key}, body)
end
