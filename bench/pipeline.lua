-- wrk script for the end-to-end phase (bench/pipeline.py): POST one new order per request at a
-- fixed rate, each with its own Idempotency-Key, spread round-robin over the shops' API keys.
--
-- Pacing as bench/intake.lua: delay() holds every connection of the thread to one schedule of
-- PIPELINE_RATE requests/s; a slot missed while every connection was busy is dropped, not
-- caught up (the achieved rate then falls short, which the bench reports). done() prints one
-- JSON line that bench/pipeline.py parses.
--
-- Environment: PIPELINE_RATE (requests/s), PIPELINE_KEYS (comma-separated API keys, one per
-- shop), PIPELINE_SKUS (comma-separated, every shop has them), PIPELINE_RUN (unique per run).

local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } timespec;
  int clock_gettime(int clk_id, timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
  return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

local function split(text)
  local out = {}
  for item in string.gmatch(text or "", "[^,]+") do
    out[#out + 1] = item
  end
  return out
end

local rate = tonumber(os.getenv("PIPELINE_RATE") or "10")
local interval_ms = 1000 / rate
local run = os.getenv("PIPELINE_RUN") or tostring(os.time())
local keys = split(os.getenv("PIPELINE_KEYS"))
local skus = split(os.getenv("PIPELINE_SKUS"))
local counter = 0
local next_slot = nil
local threads = 0

local function lines_json()
  local count = math.random(1, math.min(5, #skus))
  local picked, lines = {}, {}
  while #lines < count do
    local sku = skus[math.random(#skus)]
    if not picked[sku] then
      picked[sku] = true
      lines[#lines + 1] = string.format('{"sku":"%s","quantity":%d}', sku, math.random(1, 3))
    end
  end
  return "[" .. table.concat(lines, ",") .. "]"
end

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  math.randomseed(os.time() + math.floor(now_ms()) + thread_id)
end

function delay()
  local now = now_ms()
  if next_slot == nil or next_slot < now then
    next_slot = now
  end
  local wait = next_slot - now
  next_slot = next_slot + interval_ms
  return math.floor(wait)
end

function request()
  counter = counter + 1
  local headers = {
    ["Authorization"] = "Bearer " .. keys[(counter % #keys) + 1],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("%s-%d-%d", run, thread_id, counter),
  }
  local body = '{"customer":{"name":"Bench Customer","email":"bench@example.com"},'
    .. '"shipping_address":{"line1":"1 Bench St","city":"Lisbon","postal_code":"1000-001",'
    .. '"country":"PT"},"lines":' .. lines_json() .. ',"payment":{"token":"tok_ok"}}'
  return wrk.format("POST", "/api/v1/orders", headers, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
