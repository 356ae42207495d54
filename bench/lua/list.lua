-- wrk script: see common.lua, M.list.
local c = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args) c.load() end
function request() return c.list() end
