-- wrk script: every request creates a new project (one row and its event, one transaction).
local counter = 0

function init(args)
  token = os.getenv("JENY_BENCH_TOKEN")
  math.randomseed(os.time())
  run = math.random(1, 1000000000)
end

function request()
  counter = counter + 1
  local body = string.format('{"name": "bench-%d-%d", "deploy_command": "make deploy"}', run, counter)
  return wrk.format("POST", "/api/v1/projects", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
