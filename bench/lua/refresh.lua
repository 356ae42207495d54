-- wrk script: POST /api/auth/refresh, rotating refresh tokens (common.lua).
local c = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args) c.load() end
function request() return c.refresh_request() end
function response(status, headers, body) c.refresh_response(status, headers, body) end
