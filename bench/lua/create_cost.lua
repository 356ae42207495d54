-- wrk script: see common.lua, M.create_cost.
local c = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args) c.load() end
function request() return c.create_cost() end
