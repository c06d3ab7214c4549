-- wrk script for the intake phases (bench/intake.py): POST one new order per request.
--
-- Each request has a unique Idempotency-Key and 1 to 5 distinct SKUs of the shop's catalog,
-- 1 to 3 of each. delay() paces the thread to INTAKE_RATE requests/s on a fixed schedule
-- (open-ish: a slow response holds its connection, not the schedule, while connections
-- are free), and done() prints one JSON line that bench/intake.py parses.
--
-- Environment: INTAKE_RATE (requests/s for this thread), INTAKE_KEY (API key),
-- INTAKE_SKUS (comma-separated), INTAKE_RUN (unique per step: keys never repeat).
-- INTAKE_REPLAY_KEY: every request sends this key and the same body (one order of the
-- first SKU, placed beforehand by bench/intake.py), so each one is a replay.

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

local rate = tonumber(os.getenv("INTAKE_RATE") or "100")
local interval_ms = 1000 / rate
local run = os.getenv("INTAKE_RUN") or tostring(os.time())
local skus = {}
for sku in string.gmatch(os.getenv("INTAKE_SKUS") or "", "[^,]+") do
  skus[#skus + 1] = sku
end
local headers = {
  ["Authorization"] = "Bearer " .. (os.getenv("INTAKE_KEY") or ""),
  ["Content-Type"] = "application/json",
}
local counter = 0
local next_slot = nil

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

local threads = 0

function setup(thread)
  -- runs in the main state: number the threads, so that their keys never collide
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  math.randomseed(os.time() + math.floor(now_ms()) + thread_id)
end

function delay()
  -- the next free slot of this thread's schedule; a slot missed while every connection
  -- was busy is dropped, not caught up (the achieved rate then falls short: the bench
  -- reads that as "not sustained")
  local now = now_ms()
  if next_slot == nil or next_slot < now then
    next_slot = now
  end
  local wait = next_slot - now
  next_slot = next_slot + interval_ms
  return math.floor(wait)
end

local replay_key = os.getenv("INTAKE_REPLAY_KEY")
local replay_body = nil

local function order_json(lines)
  return '{"customer":{"name":"Bench Customer","email":"bench@example.com"},'
    .. '"shipping_address":{"line1":"1 Bench St","city":"Lisbon","postal_code":"1000-001",'
    .. '"country":"PT"},"lines":' .. lines .. ',"payment":{"token":"tok_ok"}}'
end

function request()
  if replay_key then
    headers["Idempotency-Key"] = replay_key
    replay_body = replay_body or order_json('[{"sku":"' .. skus[1] .. '","quantity":1}]')
    return wrk.format("POST", nil, headers, replay_body)
  end
  counter = counter + 1
  headers["Idempotency-Key"] = string.format("%s-%d-%d", run, thread_id, counter)
  return wrk.format("POST", nil, headers, order_json(lines_json()))
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%d}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
