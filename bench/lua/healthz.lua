-- wrk script: GET /healthz (also used for the bare net/http floor).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
wrk.path = "/healthz"
