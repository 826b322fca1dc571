-- 100 productViewed events per request via the batch endpoint.
local counter = 0
local key = os.getenv("VESTNIK_BENCH_KEY")

request = function()
  counter = counter + 1
  local items = {}
  for i = 1, 100 do
    local n = (counter * 100 + i) % 10000
    local email = "u" .. n .. "@bench.test"
    items[i] = '{"eventTypeKey":"productViewed","keyValue":"' .. email .. '","params":[' ..
      '{"name":"email","value":"' .. email .. '"},' ..
      '{"name":"product","value":"{\\"productId\\":\\"P' .. (n % 500) .. '\\",\\"price\\":10}"}]}'
  end
  local body = "[" .. table.concat(items, ",") .. "]"
  return wrk.format("POST", nil, {["content-type"] = "application/json", ["api-key"] = key}, body)
end
