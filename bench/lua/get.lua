-- wrk script: see common.lua, M.get.
local c = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args) c.load() end
function request() return c.get() end
