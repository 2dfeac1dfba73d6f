-- wrk script for the benchmark: counts answers with the expected status and,
-- for submissions, POSTs a distinct display token with every request.
--
--   wrk ... -s load.lua URL -- EXPECTED_STATUS [TOKEN_FILE THREAD_COUNT]
--
-- With a token file each wrk thread takes every n-th line (n = THREAD_COUNT),
-- so no token is sent twice; running out is counted, never papered over by
-- replaying (a replay is a cheaper 200, not an accepted submission).

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

function init(args)
   expected = tonumber(args[1])
   ok, other, exhausted, sent = 0, 0, 0, 0
   tokens, next_token = nil, 1
   if args[2] then
      local thread_count = tonumber(args[3])
      tokens = {}
      local line_number = 0
      for line in io.lines(args[2]) do
         if line_number % thread_count == thread_index then
            tokens[#tokens + 1] = line
         end
         line_number = line_number + 1
      end
   end
end

function request()
   sent = sent + 1
   if tokens == nil then
      return wrk.format()
   end
   local token = tokens[next_token]
   if token == nil then
      exhausted = exhausted + 1
      token = tokens[1]
   else
      next_token = next_token + 1
   end
   local body = '{"display_token":"' .. token .. '","score":' .. (next_token % 11) .. '}'
   return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
   if status == expected then
      ok = ok + 1
   else
      other = other + 1
   end
end

function done(summary, latency, requests)
   local sums = {ok = 0, other = 0, exhausted = 0, sent = 0}
   for _, thread in ipairs(threads) do
      for name, _ in pairs(sums) do
         sums[name] = sums[name] + thread:get(name)
      end
   end
   local errors = summary.errors
   io.write(string.format(
      'RESULT {"duration_us": %d, "requests": %d, "ok": %d, "other": %d, "exhausted": %d, '
         .. '"socket_errors": %d, "p50_ms": %.3f, "p99_ms": %.3f, "sent": %d}\n',
      summary.duration, summary.requests, sums.ok, sums.other, sums.exhausted,
      errors.connect + errors.read + errors.write + errors.timeout,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, sums.sent))
end
