-- wrk script for Consentry's token benchmark (`make bench`).
--
-- POSTs an application/x-www-form-urlencoded body to the URL given to wrk and,
-- when the run ends, prints ONE JSON line (prefixed by nothing, last line of
-- stdout) with throughput, latency percentiles and error counts.
--
--   WRK_BODY='client_id=bench-client&client_secret=bench-secret&grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default' \
--   WRK_LABEL=bare_jwt-w2 \
--   wrk -t2 -c16 -d10s -s bench/wrk/post_form.lua http://127.0.0.1:8001/token
--
-- Environment:
--   WRK_BODY          form body, already url-encoded (default: the body above)
--   WRK_LABEL         free text copied into the JSON line as "label"
--   WRK_JSON_FILE     if set, the JSON line is also appended to this file
--   WRK_COUNT_STATUS  "0" disables the per-response Lua hook (non-200 counting);
--                     the hook costs wrk some CPU per response, which matters on
--                     a 2-core machine shared with the server. When disabled,
--                     "non_200" is null and only wrk's own "status_errors"
--                     (responses with status >= 400) is available.
--
-- JSON fields: label, requests, duration_s, rps, latency_ms {p50,p90,p99,max,
-- mean,stdev}, non_200 (count of responses whose status != 200), non_2xx,
-- status_counts (non-200 statuses -> count), status_errors (wrk: status >= 400),
-- socket_errors {connect,read,write,timeout}, bytes, threads.

local DEFAULT_BODY = "client_id=bench-client&client_secret=bench-secret"
  .. "&grant_type=client_credentials"
  .. "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"

wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY") or DEFAULT_BODY
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"

local count_status = os.getenv("WRK_COUNT_STATUS") ~= "0"

-- ---------------------------------------------------------------- threads --
-- Each wrk thread has its own Lua state; setup() runs in the main state and
-- keeps handles so done() can read the per-thread counters.
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

-- Per-thread state (globals of the thread's Lua state).
non200 = 0
statuses = {}   -- [status] = count, only for status ~= 200

if count_status then
  function response(status, headers, body)
    if status ~= 200 then
      non200 = non200 + 1
      statuses[status] = (statuses[status] or 0) + 1
    end
  end
end

-- ------------------------------------------------------------------ JSON --
local function num(x)
  if x == nil then return "null" end
  if x ~= x or x == math.huge or x == -math.huge then return "null" end
  if x == math.floor(x) and math.abs(x) < 1e15 then
    return string.format("%d", x)
  end
  return string.format("%.3f", x)
end

local function str(s)
  s = tostring(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

-- ------------------------------------------------------------------ done --
function done(summary, latency, requests)
  local duration_s = summary.duration / 1e6
  local total = summary.requests
  local rps = duration_s > 0 and total / duration_s or 0

  local non_200, non_2xx, parts = nil, nil, {}
  if count_status then
    non_200, non_2xx = 0, 0
    local merged = {}
    for _, t in ipairs(threads) do
      non_200 = non_200 + (t:get("non200") or 0)
      local st = t:get("statuses") or {}
      for code, n in pairs(st) do
        merged[code] = (merged[code] or 0) + n
        if code < 200 or code > 299 then non_2xx = non_2xx + n end
      end
    end
    local codes = {}
    for code in pairs(merged) do table.insert(codes, code) end
    table.sort(codes)
    for _, code in ipairs(codes) do
      table.insert(parts, str(code) .. ":" .. num(merged[code]))
    end
  end

  local e = summary.errors
  local fields = {
    '"label":' .. str(os.getenv("WRK_LABEL") or ""),
    '"requests":' .. num(total),
    '"duration_s":' .. num(duration_s),
    '"rps":' .. num(rps),
    '"latency_ms":{'
      .. '"p50":' .. num(latency:percentile(50) / 1000)
      .. ',"p90":' .. num(latency:percentile(90) / 1000)
      .. ',"p99":' .. num(latency:percentile(99) / 1000)
      .. ',"max":' .. num(latency.max / 1000)
      .. ',"mean":' .. num(latency.mean / 1000)
      .. ',"stdev":' .. num(latency.stdev / 1000) .. '}',
    '"non_200":' .. num(non_200),
    '"non_2xx":' .. num(non_2xx),
    '"status_counts":' .. (count_status and ("{" .. table.concat(parts, ",") .. "}") or "null"),
    '"status_errors":' .. num(e.status),
    '"socket_errors":{"connect":' .. num(e.connect) .. ',"read":' .. num(e.read)
      .. ',"write":' .. num(e.write) .. ',"timeout":' .. num(e.timeout) .. '}',
    '"bytes":' .. num(summary.bytes),
    '"threads":' .. num(#threads),
  }
  local line = "{" .. table.concat(fields, ",") .. "}"

  if count_status and non_200 > 0 then
    io.stderr:write(string.format("post_form.lua: %d non-200 responses %s\n",
      non_200, "{" .. table.concat(parts, ",") .. "}"))
  end

  io.write(line .. "\n")
  io.flush()

  local path = os.getenv("WRK_JSON_FILE")
  if path and path ~= "" then
    local f = io.open(path, "a")
    if f then
      f:write(line .. "\n")
      f:close()
    else
      io.stderr:write("post_form.lua: cannot open WRK_JSON_FILE " .. path .. "\n")
    end
  end
end
