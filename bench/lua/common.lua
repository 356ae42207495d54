-- Shared by the wrk scripts of bench/run. Each script starts with
--   local c = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
-- which defines the globals setup() and done() that wrk calls in its main Lua
-- state, and returns request builders that each thread uses after c.load().
--
-- Data comes from bench/seed (directory $BENCH_DATA):
--   users.txt    index id email password access_token
--   refresh.txt  refresh_token
--   records.txt  id owner_index public(0|1) views
local M = {}

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

-- done prints one line that bench/run parses: req/s, p50/p95/p99 in ms,
-- errors (status >= 400 plus socket errors), requests, and the two parts.
function done(summary, latency, requests)
  local e = summary.errors
  local socket = e.connect + e.read + e.write + e.timeout
  local secs = summary.duration / 1e6
  io.write(string.format("BENCH_RESULT %.1f %.2f %.2f %.2f %d %d %d %d\n",
    summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    e.status + socket, summary.requests, e.status, socket))
end

local function fields(line)
  local t = {}
  for w in line:gmatch("%S+") do t[#t + 1] = w end
  return t
end

local function lines(name)
  local path = os.getenv("BENCH_DATA") .. "/" .. name
  local f = assert(io.open(path, "r"), "cannot open " .. path)
  local out = {}
  for line in f:lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  f:close()
  return out
end

M.users = {}     -- {id, email, password, token}, 1-based
M.public = {}    -- ids of public records
M.owned = {}     -- owned[user] = ids of that user's records
M.refresh = {}   -- this thread's share of the refresh tokens

-- load reads the seed files into this thread's Lua state.
function M.load()
  math.randomseed(os.time() * 1000 + (tid or 0))
  for _, line in ipairs(lines("users.txt")) do
    local f = fields(line)
    local u = {id = f[2], email = f[3], password = f[4], token = f[5]}
    M.users[#M.users + 1] = u
    M.owned[#M.users] = {}
  end
  for _, line in ipairs(lines("records.txt")) do
    local f = fields(line)
    local owner = tonumber(f[2]) + 1
    table.insert(M.owned[owner], f[1])
    if f[3] == "1" then M.public[#M.public + 1] = f[1] end
  end
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
  for i, t in ipairs(lines("refresh.txt")) do
    if (i - 1) % nthreads == (tid or 0) then M.refresh[#M.refresh + 1] = t end
  end
end

local function pick(list) return list[math.random(#list)] end

local function auth(u)
  return {["Authorization"] = "Bearer " .. u.token}
end

local function authJSON(u)
  return {["Authorization"] = "Bearer " .. u.token, ["Content-Type"] = "application/json"}
end

local posts = "/api/collections/posts/records"

-- 2: one public record by id, as a random user.
function M.get()
  return wrk.format("GET", posts .. "/" .. pick(M.public), auth(pick(M.users)))
end

-- 3: the first page (limit 20) under the list rule, as a random user.
function M.list()
  return wrk.format("GET", posts .. "?limit=20", auth(pick(M.users)))
end

-- 4: filter `views > 500 && public`, sort `-views`, limit 20.
function M.filter()
  return wrk.format("GET", posts .. "?filter=views%20%3E%20500%20%26%26%20public&sort=-views&limit=20",
    auth(pick(M.users)))
end

-- 5: a new post owned by a random user, created by that user.
function M.create()
  local u = pick(M.users)
  local body = string.format(
    '{"title":"bench post","body":"created by wrk","views":%d,"public":%s,"owner":"%s"}',
    math.random(0, 999), math.random(2) == 1 and "true" or "false", u.id)
  return wrk.format("POST", posts, authJSON(u), body)
end

-- 5a-c: a new record of three text fields in $BENCH_COLLECTION (the
-- write-cost collections of bench/seed: plain, audited, encrypted).
local costs = "/api/collections/" .. (os.getenv("BENCH_COLLECTION") or "writes_plain") .. "/records"
function M.create_cost()
  local u = pick(M.users)
  local body = string.format(
    '{"title":"bench record %d","body":"created by wrk to measure what auditing and encryption cost","note":"n-%d","owner":"%s"}',
    math.random(0, 999999), math.random(0, 999999), u.id)
  return wrk.format("POST", costs, authJSON(u), body)
end

-- 6: PATCH one field of a post that the token's user owns.
function M.update()
  local i = math.random(#M.users)
  local u = M.users[i]
  return wrk.format("PATCH", posts .. "/" .. pick(M.owned[i]), authJSON(u),
    string.format('{"views":%d}', math.random(0, 999)))
end

-- 7: login with a seeded user's password (Argon2id).
function M.login()
  local u = pick(M.users)
  return wrk.format("POST", "/api/auth/login", {["Content-Type"] = "application/json"},
    string.format('{"email":"%s","password":"%s"}', u.email, u.password))
end

-- 8: refresh. Each refresh token works once, so this thread keeps a queue of
-- live tokens: a request takes the oldest, a 200 answer puts its successor
-- back. Connections of a thread share the queue; a token is never sent twice.
local head, tail = 1, nil
function M.refresh_request()
  tail = tail or #M.refresh -- after load(), before anything is taken
  local t = M.refresh[head]
  if t == nil then
    t = "kr_exhausted" -- queue ran dry: counted as an error (401)
  else
    M.refresh[head] = nil
    head = head + 1
  end
  return wrk.format("POST", "/api/auth/refresh", {["Content-Type"] = "application/json"},
    '{"refresh_token":"' .. t .. '"}')
end

function M.refresh_response(status, headers, body)
  if status == 200 then
    local t = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if t then
      tail = tail + 1
      M.refresh[tail] = t
    end
  end
end

return M
