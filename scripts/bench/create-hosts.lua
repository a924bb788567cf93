-- wrk script: every request creates a new host (a write: row, tag rows, event, one transaction).
-- Each wrk thread numbers its own hosts, so names never collide.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"name": "bench-%d-%d-%d", "address": "10.0.%d.%d", "tags": {"role": "web", "env": "bench"}}',
    run, thread_id, counter, counter % 250, thread_id)
  return wrk.format("POST", "/api/v1/hosts", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

function init(args)
  token = os.getenv("JENY_BENCH_TOKEN")
  -- A prefix per run, so runs against the same server do not collide.
  math.randomseed(os.time() + thread_id)
  run = math.random(1, 1000000000)
end
