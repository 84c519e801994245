-- wrk script for Consentry's Graph paging benchmark (`make bench`, phase graph).
--
-- GETs the URL given to wrk with an Authorization header, and reports exactly as
-- post_form.lua does (it is loaded from the same directory): one JSON line with
-- throughput, latency percentiles, non-200 counts and socket errors.
--
--   WRK_AUTH="Bearer eyJ..." WRK_LABEL=graph-sqlite-sp-first \
--   wrk -t2 -c4 -d10s -s bench/wrk/get_bearer.lua 'http://127.0.0.1:8001/v1.0/servicePrincipals?$top=100'
--
-- Environment: WRK_AUTH (the Authorization header's value), and WRK_LABEL,
-- WRK_JSON_FILE, WRK_COUNT_STATUS as for post_form.lua.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "post_form.lua")

wrk.method = "GET"
wrk.body = nil
wrk.headers["Content-Type"] = nil
wrk.headers["Authorization"] = os.getenv("WRK_AUTH")
