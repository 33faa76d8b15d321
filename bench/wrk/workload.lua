-- One wrk script for every workload of bench/run.sh. Usage:
--   wrk ... -s bench/wrk/workload.lua URL -- WORKLOAD PRODUCTS TOKENS_FILE [SEED]
-- WORKLOAD: health | product | list | order | mix (70% product, 20% list, 10% order) |
--           static (GET /product.json: the nginx reference).
-- Requests are pre-generated in init() from a fixed seed, so every layout gets the same sequence
-- and wrk spends no time building requests while it measures. done() prints one line
-- "BENCH_JSON {...}" with the counts, errors and latency percentiles in microseconds.

local POOL = 20000  -- pre-generated requests per wrk thread, used round-robin

local function read_tokens(path)
  local tokens = {}
  local f = io.open(path, "r")
  if not f then error("cannot open tokens file " .. tostring(path)) end
  for line in f:lines() do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  f:close()
  if #tokens == 0 then error("no tokens in " .. path) end
  return tokens
end

local function product_request(products)
  return wrk.format("GET", "/products/" .. math.random(1, products))
end

local function list_request()
  return wrk.format("GET", "/products?limit=20")
end

local function order_request(products, tokens)
  local lines = math.random(1, 3)
  local chosen, items = {}, {}
  while #items < lines do
    local id = math.random(1, products)
    if not chosen[id] then
      chosen[id] = true
      items[#items + 1] = string.format('{"product_id":%d,"quantity":%d}', id, math.random(1, 3))
    end
  end
  local body = '{"items":[' .. table.concat(items, ",") .. ']}'
  return wrk.format("POST", "/orders", {
    ["Authorization"] = "Bearer " .. tokens[math.random(1, #tokens)],
    ["Content-Type"] = "application/json",
  }, body)
end

local requests, index = {}, 0

function init(args)
  local workload = args[1] or "health"
  local products = tonumber(args[2] or "1")
  local tokens_file = args[3]
  local seed = tonumber(args[4] or "12345")
  math.randomseed(seed)
  local tokens = nil
  if workload == "order" or workload == "mix" then tokens = read_tokens(tokens_file) end
  for i = 1, POOL do
    local r
    if workload == "health" then
      r = wrk.format("GET", "/health/live")
    elseif workload == "static" then
      r = wrk.format("GET", "/product.json")
    elseif workload == "product" then
      r = product_request(products)
    elseif workload == "list" then
      r = list_request()
    elseif workload == "order" then
      r = order_request(products, tokens)
    elseif workload == "mix" then
      local x = math.random()
      if x < 0.70 then r = product_request(products)
      elseif x < 0.90 then r = list_request()
      else r = order_request(products, tokens) end
    else
      error("unknown workload " .. workload)
    end
    requests[i] = r
  end
end

function request()
  index = index + 1
  if index > POOL then index = 1 end
  return requests[index]
end

function done(summary, latency, requests_stats)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50.0), latency:percentile(90.0),
    latency:percentile(99.0), latency:percentile(99.9)))
end
