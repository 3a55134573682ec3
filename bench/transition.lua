-- wrk script of bench/transition_throughput.py: every request fires one transition on a different case.
--
--   wrk -t2 -c16 -d20s -s bench/transition.lua http://127.0.0.1:PORT -- TOKEN FIRST LAST NAME VERSION THREADS
--
-- Thread t takes the case ids FIRST + t, FIRST + t + threads, ... below LAST. Past LAST it asks for case 0,
-- which does not exist (404): an exhausted pool shows up as non-2xx responses, never as a repeated case.
-- done() prints one line "WRKJSON {...}": counts, 1000 latency quantiles and the next unused case id.

local threads = {}

function setup(thread)
   thread:set("index", #threads)
   table.insert(threads, thread)
end

function init(args)
   local token = args[1]
   first, last = tonumber(args[2]), tonumber(args[3])
   stride = tonumber(args[6])
   nextid = first + index
   body = string.format('{"name": "%s", "version": %s}', args[4], args[5])
   headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

function request()
   local id = nextid
   nextid = nextid + stride
   if id >= last then
      id = 0
   end
   return wrk.format("POST", "/api/v1/cases/" .. id .. "/transitions", headers, body)
end

function done(summary, latency, requests)
   local highest = 0
   for _, thread in ipairs(threads) do
      local n = thread:get("nextid")
      if n > highest then
         highest = n
      end
   end
   -- 1000 quantiles (0.1 % steps), so that runs can be merged into one distribution afterwards.
   local quantiles = {}
   for i = 1, 1000 do
      quantiles[i] = string.format("%d", latency:percentile(i / 10))
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, "write": %d, '
         .. '"timeout": %d, "next_id": %d, "quantiles_us": [%s]}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout, highest,
      table.concat(quantiles, ", ")
   ))
end
