-- wrk script: the mixed run, 80 % reads, 15 % writes, 5 % logins.
--   reads:  40 % get by id, 30 % list, 10 % filter + sort
--   writes:  8 % create, 7 % update
--   logins:  5 %
local c = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
function init(args) c.load() end
function request()
  local r = math.random(100)
  if r <= 40 then return c.get()
  elseif r <= 70 then return c.list()
  elseif r <= 80 then return c.filter()
  elseif r <= 88 then return c.create()
  elseif r <= 95 then return c.update()
  else return c.login() end
end
