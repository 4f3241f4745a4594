-- wrk script: PATCH describeConversation, rotating over the sessions in targets.lua,
-- with a new value each time so every request is a real write.
local targets = dofile(os.getenv("KLATCH_BENCH_TARGETS"))
local key = os.getenv("KLATCH_BENCH_KEY")
local counter = 0

function request()
  counter = counter + 1
  local t = targets[(counter % #targets) + 1]
  local body = '{"custom": {"orderNumberStr": "A' .. counter .. '", "priorityNum": ' .. counter .. '}}'
  return wrk.format("PATCH", "/c/v1/conversations/" .. t[2], {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
    ["X-Klatch-Session"] = t[1],
  }, body)
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
