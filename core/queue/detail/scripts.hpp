#pragma once
// The queue's Lua scripts. Each runs atomically inside Redis, takes every
// key through KEYS (all under one hash tag) and reads the time with
// redis.call('TIME'), so instance clocks do not matter. Every script does
// O(batch) work, except REQUEUE_DEAD, which walks the whole dead list.
//
// Each redis.call from a script costs Redis far more than the key lookup it
// makes. So the hot scripts (DRAIN, CLAIM, COMPLETE) read and write a whole
// batch with one variadic command (HMGET, ZADD, HSET, HDEL, ZREM, LPUSH) per
// key and kind of change, not one command per id.
//
// A script's source is kPrelude followed by its body. The prelude contains
// the helpers the scripts share.

#include <array>
#include <string>
#include <string_view>

namespace smm::queue::detail {

// Helpers shared by the scripts.
//  parse_id mirrors smm::parse_order_id (common/order_id.cpp): trim ASCII
//  whitespace, then 1 to 20 ASCII digits, with the same reasons, and
//  leading zeros dropped so "0123" and "123" are one order.
//  dead_entry builds the JSON of a dead-list entry; a payload longer than
//  `max_bytes` is cut at a UTF-8 character boundary, and a payload that is
//  not valid UTF-8 is stored hex-encoded (payload_encoding = "hex") because
//  cjson would otherwise emit invalid JSON.
inline constexpr std::string_view kPrelude = R"lua(
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function is_space(b)
  return b == 32 or (b >= 9 and b <= 13)
end

-- A loop from the end instead of a '%s+$' pattern, which is quadratic on
-- long runs of spaces followed by other text.
local function trim(s)
  local first = string.find(s, '[^ \t\n\v\f\r]')
  if not first then return '' end
  local last = #s
  while is_space(string.byte(s, last)) do last = last - 1 end
  return string.sub(s, first, last)
end

local function parse_id(raw)
  -- Fast path: a payload that already is a canonical id.
  if #raw <= 20 and string.find(raw, '^[1-9]%d*$') then return raw end
  local id = trim(raw)
  if #id == 0 then return nil, 'empty payload' end
  if #id > 20 then return nil, 'id longer than 20 digits' end
  if not string.find(id, '^[0-9]+$') then return nil, 'id is not a decimal number' end
  local canonical = string.gsub(id, '^0+', '')
  if canonical == '' then return '0' end
  return canonical
end

-- Exact member check for ids already in the schedule (no trimming): the
-- canonical form parse_id returns, without leading zeros.
local function is_exact_id(s)
  if #s < 1 or #s > 20 or string.find(s, '^[0-9]+$') == nil then return false end
  return s == '0' or string.byte(s, 1) ~= 48
end

local function utf8_valid(s)
  local i, n = 1, #s
  while i <= n do
    local c = string.byte(s, i)
    local len
    if c < 0x80 then len = 1
    elseif c >= 0xC2 and c <= 0xDF then len = 2
    elseif c >= 0xE0 and c <= 0xEF then len = 3
    elseif c >= 0xF0 and c <= 0xF4 then len = 4
    else return false end
    if i + len - 1 > n then return false end
    for j = i + 1, i + len - 1 do
      local cc = string.byte(s, j)
      if cc < 0x80 or cc > 0xBF then return false end
    end
    if len > 1 then
      local c2 = string.byte(s, i + 1)
      -- Overlong forms, UTF-16 surrogates and code points above U+10FFFF.
      if (c == 0xE0 and c2 < 0xA0) or (c == 0xED and c2 > 0x9F)
          or (c == 0xF0 and c2 < 0x90) or (c == 0xF4 and c2 > 0x8F) then
        return false
      end
    end
    i = i + len
  end
  return true
end

local function truncate_utf8(s, max_bytes)
  if #s <= max_bytes then return s end
  local cut = max_bytes
  local steps = 0
  -- Step back over continuation bytes so a character is not split.
  while cut > 0 and steps < 3 do
    local next_byte = string.byte(s, cut + 1)
    if next_byte < 0x80 or next_byte > 0xBF then break end
    cut = cut - 1
    steps = steps + 1
  end
  return string.sub(s, 1, cut)
end

local function hex(s)
  return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end))
end

local function dead_entry(payload, reason, now, max_bytes)
  local stored = truncate_utf8(payload, max_bytes)
  local entry = {payload = stored, payload_bytes = #payload, reason = reason, at = now}
  if not utf8_valid(stored) then
    entry.payload = hex(stored)
    entry.payload_encoding = 'hex'
    entry.reason = reason .. '; payload is not valid UTF-8 text, stored hex-encoded'
  end
  return cjson.encode(entry)
end

-- Text from outside (a provider message) made safe for cjson.
local function safe_text(s, max_bytes)
  s = truncate_utf8(s, max_bytes)
  if utf8_valid(s) then return s end
  return (string.gsub(s, '[\128-\255]', '?'))
end

-- A lease value is "token:expiry_ms", or "token:expiry_ms:1" once a producer
-- asked for a fresh poll while the lease was live (the bump flag). Returns
-- the token as text, the expiry as a number and whether the flag is set, or
-- nil for a missing or malformed value.
local function parse_lease(value)
  if not value then return nil end
  local token, expiry, flag = string.match(value, '^(%d+):(%d+):?(%d*)$')
  if not token then return nil end
  return token, tonumber(expiry), flag == '1'
end

-- A meta value is "since_ms:attempts:failures": when the id was first seen,
-- its order-level rejections and its transient failures in a row. Returns
-- the three numbers, or nil for a missing or malformed value.
local function parse_meta(meta)
  if not meta then return nil end
  local since, attempts, failures = string.match(meta, '^(%d+):(%d+):(%d+)$')
  if not since then return nil end
  return tonumber(since), tonumber(attempts), tonumber(failures)
end

local function meta_value(since, attempts, failures)
  return string.format('%d:%d:%d', since, attempts, failures)
end

-- Variadic commands take a whole batch in one call. unpack() is bounded by
-- the Lua C stack (just under 8,000 values on Redis 7.0), so arguments go in
-- chunks of kChunk, an even number, which keeps (score, member) and (field,
-- value) pairs together.
local kChunk = 1000

-- Runs `command key [flag] args...` in chunks; does nothing when `args` is
-- empty.
local function call_chunked(command, key, args, flag)
  for first = 1, #args, kChunk do
    local last = math.min(first + kChunk - 1, #args)
    if flag then
      redis.call(command, key, flag, unpack(args, first, last))
    else
      redis.call(command, key, unpack(args, first, last))
    end
  end
end

-- HMGET in chunks. Returns a table with the value for each field of
-- `fields`, in order, false where a field does not exist.
local function hmget(key, fields)
  local values = {}
  for first = 1, #fields, kChunk do
    local last = math.min(first + kChunk - 1, #fields)
    local chunk = redis.call('HMGET', key, unpack(fields, first, last))
    for i = 1, #chunk do values[first + i - 1] = chunk[i] end
  end
  return values
end

-- Schedules valid ids due at `now` (an id already scheduled only moves
-- earlier) and creates the meta of those that have none, as HSETNX would.
-- Returns how many ids were given.
local function schedule_now(schedule_key, meta_key, ids, now)
  if #ids == 0 then return 0 end
  -- Numbers passed to redis.call are formatted once per argument, so pass
  -- text made once.
  local score = string.format('%d', now)
  local members, unique, seen = {}, {}, {}
  for _, id in ipairs(ids) do
    members[#members + 1] = score
    members[#members + 1] = id
    if not seen[id] then
      seen[id] = true
      unique[#unique + 1] = id
    end
  end
  -- LT adds new ids and only ever moves an existing one earlier.
  call_chunked('ZADD', schedule_key, members, 'LT')
  local metas = hmget(meta_key, unique)
  local fresh = meta_value(now, 0, 0)
  local created = {}
  for i, id in ipairs(unique) do
    if not metas[i] then
      created[#created + 1] = id
      created[#created + 1] = fresh
    end
  end
  call_chunked('HSET', meta_key, created)
  return #ids
end

-- Microseconds fit a Lua number (a double) exactly until the year 2255.
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- The shared rate factor at `now`: the stored value plus the linear
-- recovery since it was stored, at most 1.
local function current_factor(stored, stored_at, now, recovery_per_second)
  local factor = tonumber(stored) or 1
  local at = tonumber(stored_at) or now
  return math.min(1, factor + recovery_per_second * (now - at) / 1000000)
end

-- Expires the rate state once nothing in it matters any more: the TAT and
-- the pause lie in the past and the factor is back at 1. A missing key then
-- reads exactly like that state.
local function expire_rate_state(key, now, tat, pause_until, factor, recovery_per_second)
  local live_us = math.max(tat - now, pause_until - now, (1 - factor) / recovery_per_second * 1000000, 0)
  redis.call('PEXPIRE', key, math.floor(live_us / 1000) + 1)
end
)lua";

// KEYS: inbox, schedule, meta, dead. ARGV: max entries, max stored payload
// bytes. Producers LPUSH, so RPOP takes the oldest entries first. Returns
// {scheduled, dead}.
inline constexpr std::string_view kDrainBody = R"lua(
local now = now_ms()
local max_bytes = tonumber(ARGV[2])
local popped = redis.call('RPOP', KEYS[1], ARGV[1])
if not popped then return {0, 0} end
local ids, dead_entries = {}, {}
for _, raw in ipairs(popped) do
  local id, why = parse_id(raw)
  if id then
    ids[#ids + 1] = id
  else
    dead_entries[#dead_entries + 1] = dead_entry(raw, why, now, max_bytes)
  end
end
local scheduled = schedule_now(KEYS[2], KEYS[3], ids, now)
call_chunked('LPUSH', KEYS[4], dead_entries)
return {scheduled, #dead_entries}
)lua";

// KEYS: schedule, lease, seq, meta, dead.
// ARGV: max ids, lease ms, give_up_after ms, max stored payload bytes.
// Returns {{id, token, attempts, failures, id, token, ...}, given_up,
// invalid, earliest remaining score as a string or ""}. The claims are one
// flat list, four elements per claim.
//
// Per batch, not per id: one HMGET each of lease and meta, one INCRBY for
// every token of the batch, and one ZADD and one HSET for all new leases.
inline constexpr std::string_view kClaimBody = R"lua(
local now = now_ms()
local lease_ms = tonumber(ARGV[2])
local give_up_ms = tonumber(ARGV[3])
local max_bytes = tonumber(ARGV[4])

local due = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, ARGV[1])
local leases = hmget(KEYS[2], due)
local metas = hmget(KEYS[4], due)

local rescored, lease_sets, meta_sets = {}, {}, {}
local forgotten, dead_entries = {}, {}
local claimable, attempts_of, failures_of = {}, {}, {}
local given_up, invalid = 0, 0
for i, id in ipairs(due) do
  local token, expiry, bumped = parse_lease(leases[i])
  local since, attempts, failures = parse_meta(metas[i])
  if not is_exact_id(id) then
    -- Producers may ZADD the schedule directly; never hand out garbage.
    forgotten[#forgotten + 1] = id
    dead_entries[#dead_entries + 1] = dead_entry(id, 'schedule member is not a valid id', now, max_bytes)
    invalid = invalid + 1
  elseif expiry and expiry > now then
    -- Someone holds it (e.g. a producer moved it earlier mid-poll): wait for
    -- the lease to end, and flag the lease so the holder's reschedule makes
    -- it due at once.
    rescored[#rescored + 1] = expiry
    rescored[#rescored + 1] = id
    if not bumped then
      lease_sets[#lease_sets + 1] = id
      lease_sets[#lease_sets + 1] = string.format('%s:%d:1', token, expiry)
    end
  elseif since and now - since > give_up_ms then
    forgotten[#forgotten + 1] = id
    local reason = 'not final after give_up_after (' .. math.floor(give_up_ms / 1000) .. 's)'
    dead_entries[#dead_entries + 1] = dead_entry(id, reason, now, max_bytes)
    given_up = given_up + 1
  else
    if not since then
      -- Added to the schedule directly by a producer, or meta lost: the
      -- give_up_after clock starts now.
      meta_sets[#meta_sets + 1] = id
      meta_sets[#meta_sets + 1] = meta_value(now, 0, 0)
    end
    claimable[#claimable + 1] = id
    attempts_of[#claimable] = attempts or 0
    failures_of[#claimable] = failures or 0
  end
end

local claims = {}
if #claimable > 0 then
  -- Tokens of one batch are consecutive: last - #claimable + 1 .. last.
  local first_token = redis.call('INCRBY', KEYS[3], #claimable) - #claimable + 1
  local lease_end = string.format('%d', now + lease_ms)
  for j, id in ipairs(claimable) do
    local token = first_token + j - 1
    rescored[#rescored + 1] = lease_end
    rescored[#rescored + 1] = id
    lease_sets[#lease_sets + 1] = id
    lease_sets[#lease_sets + 1] = string.format('%d:', token) .. lease_end
    claims[#claims + 1] = id
    claims[#claims + 1] = token
    claims[#claims + 1] = attempts_of[j]
    claims[#claims + 1] = failures_of[j]
  end
end

call_chunked('ZADD', KEYS[1], rescored)
call_chunked('HSET', KEYS[2], lease_sets)
call_chunked('HSET', KEYS[4], meta_sets)
call_chunked('ZREM', KEYS[1], forgotten)
call_chunked('HDEL', KEYS[2], forgotten)
call_chunked('HDEL', KEYS[4], forgotten)
call_chunked('LPUSH', KEYS[5], dead_entries)

local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {claims, given_up, invalid, first[2] or ''}
)lua";

// KEYS: schedule, lease, meta, dead.
// ARGV: max stored payload bytes, then groups of (id, token, kind, due ms,
// reason). A group whose token is not the current lease's is stale and
// skipped. Groups apply in order, so of two groups for one id with the same
// token only the first applies. Returns {applied, stale}.
//
// Per batch, not per id: one HMGET of lease (and one of meta when a group
// keeps its id scheduled), then one call per kind of change.
inline constexpr std::string_view kCompleteBody = R"lua(
local now = now_ms()
local max_bytes = tonumber(ARGV[1])
local kinds = {done = true, reschedule = true, retry_transient = true,
               retry_rejected = true, dead = true}

local ids, scheduled_ids = {}, {}
for i = 2, #ARGV - 4, 5 do
  ids[#ids + 1] = ARGV[i]
  local kind = ARGV[i + 2]
  if kind == 'reschedule' or kind == 'retry_transient' or kind == 'retry_rejected' then
    scheduled_ids[#scheduled_ids + 1] = ARGV[i]
  end
end
local lease_of = {}
for i, value in ipairs(hmget(KEYS[2], ids)) do
  if lease_of[ids[i]] == nil then lease_of[ids[i]] = value end
end
local meta_of = {}
for i, value in ipairs(hmget(KEYS[3], scheduled_ids)) do meta_of[scheduled_ids[i]] = value end

local leases_done, removed, metas_done = {}, {}, {}
local rescheduled, meta_sets, dead_entries = {}, {}, {}
local applied, stale = 0, 0
for i = 2, #ARGV - 4, 5 do
  local id, token, kind = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local due = tonumber(ARGV[i + 3]) or now
  local reason = ARGV[i + 4]
  local current, _, bumped = parse_lease(lease_of[id])
  if not kinds[kind] or current ~= token then
    stale = stale + 1
  else
    -- The lease ends here; a later group for this id is stale.
    lease_of[id] = false
    leases_done[#leases_done + 1] = id
    if kind == 'done' or kind == 'dead' then
      removed[#removed + 1] = id
      metas_done[#metas_done + 1] = id
      if kind == 'dead' then
        dead_entries[#dead_entries + 1] = dead_entry(id, safe_text(reason, max_bytes), now, max_bytes)
      end
    else
      local since, attempts, failures = parse_meta(meta_of[id])
      since, attempts, failures = since or now, attempts or 0, failures or 0
      local score = due
      if kind == 'reschedule' then
        -- A producer asked for a fresh poll while we lease_of the lease.
        if bumped then score = now end
        attempts, failures = 0, 0
      elseif kind == 'retry_transient' then
        -- The retry is itself the fresh poll a bump asked for.
        failures = failures + 1
      else
        attempts, failures = attempts + 1, 0
      end
      rescheduled[#rescheduled + 1] = score
      rescheduled[#rescheduled + 1] = id
      local value = meta_value(since, attempts, failures)
      if value ~= meta_of[id] then
        meta_sets[#meta_sets + 1] = id
        meta_sets[#meta_sets + 1] = value
      end
    end
    applied = applied + 1
  end
end

call_chunked('HDEL', KEYS[2], leases_done)
call_chunked('ZREM', KEYS[1], removed)
call_chunked('HDEL', KEYS[3], metas_done)
call_chunked('ZADD', KEYS[1], rescheduled)
call_chunked('HSET', KEYS[3], meta_sets)
call_chunked('LPUSH', KEYS[4], dead_entries)
return {applied, stale}
)lua";

// KEYS: schedule, lease. ARGV: pairs of (id, token). Ids whose lease is still
// the given one become due now. Returns the number released.
inline constexpr std::string_view kReleaseBody = R"lua(
local now = now_ms()
local ids = {}
for i = 1, #ARGV - 1, 2 do ids[#ids + 1] = ARGV[i] end
local lease_of = {}
for i, value in ipairs(hmget(KEYS[2], ids)) do
  if lease_of[ids[i]] == nil then lease_of[ids[i]] = value end
end

local released, due_now = {}, {}
for i = 1, #ARGV - 1, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if parse_lease(lease_of[id]) == token then
    lease_of[id] = false
    released[#released + 1] = id
    due_now[#due_now + 1] = now
    due_now[#due_now + 1] = id
  end
end
call_chunked('HDEL', KEYS[2], released)
call_chunked('ZADD', KEYS[1], due_now)
return #released
)lua";

// KEYS: schedule, meta. ARGV: ids (checked by the caller; checked again
// here because the schedule must never hold garbage). Returns the number
// scheduled.
inline constexpr std::string_view kEnqueueBody = R"lua(
local now = now_ms()
local ids = {}
for _, id in ipairs(ARGV) do
  if is_exact_id(id) then ids[#ids + 1] = id end
end
return schedule_now(KEYS[1], KEYS[2], ids, now)
)lua";

// KEYS: inbox, schedule, lease, dead. Returns {inbox, scheduled, due now,
// earliest score as a string or "", live leases, dead, now ms}. Counting live
// leases walks the lease hash, which contains only ids in flight and ids
// whose holder died before another instance reclaimed them.
inline constexpr std::string_view kStatsBody = R"lua(
local now = now_ms()
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local leased = 0
for _, held in ipairs(redis.call('HVALS', KEYS[3])) do
  local _, expiry = parse_lease(held)
  if expiry and expiry > now then leased = leased + 1 end
end
return {redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]),
        redis.call('ZCOUNT', KEYS[2], '-inf', now), first[2] or '', leased,
        redis.call('LLEN', KEYS[4]), now}
)lua";

// KEYS: dead, schedule, meta. ARGV: ids to requeue
// (none = every entry whose payload is a valid id). Hex-encoded payloads are
// never requeued: their digits are bytes, not an id. Rebuilds the dead list
// without the requeued entries in one pass (LREM per entry would be
// quadratic). Returns the number requeued.
inline constexpr std::string_view kRequeueDeadBody = R"lua(
local now = now_ms()
local wanted = nil
if #ARGV > 0 then
  wanted = {}
  for _, id in ipairs(ARGV) do wanted[id] = true end
end

local kept, requeued = {}, 0
for _, entry in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local ok, decoded = pcall(cjson.decode, entry)
  local id = nil
  if ok and type(decoded) == 'table' and type(decoded.payload) == 'string'
      and decoded.payload_encoding == nil then
    id = parse_id(decoded.payload)
  end
  if id and (wanted == nil or wanted[id]) then
    -- Keeps the first-seen time if the id has one, and resets the counters.
    redis.call('ZADD', KEYS[2], 'LT', now, id)
    local since = parse_meta(redis.call('HGET', KEYS[3], id))
    redis.call('HSET', KEYS[3], id, meta_value(since or now, 0, 0))
    requeued = requeued + 1
  else
    kept[#kept + 1] = entry
  end
end

if requeued > 0 then
  redis.call('DEL', KEYS[1])
  -- unpack() is bounded by the Lua C stack, so push in chunks.
  local chunk = 1000
  for i = 1, #kept, chunk do
    redis.call('RPUSH', KEYS[1], unpack(kept, i, math.min(i + chunk - 1, #kept)))
  end
end
return requeued
)lua";

// Shared pacing by GCRA with reservations (see limiter/gcra.hpp for the
// arithmetic, which this mirrors). KEYS: rate state HASH (tat, pause_until,
// factor, factor_at, cut_at; times in Unix microseconds), circuit HASH.
// ARGV: target rate per second, tolerance us, slots wanted, lookahead us,
// factor recovery per second, "1" for the circuit probe (allowed while the
// circuit is open). Grants nothing while paused or, except to the probe,
// while the circuit is open. Returns {{slot offsets from now, us}, wait us
// before asking again when fewer were granted, factor in millionths, pause
// remaining us, circuit open 0/1}.
inline constexpr std::string_view kRateAcquireBody = R"lua(
local now = now_us()
local rate = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local lookahead = tonumber(ARGV[4])
local recovery = tonumber(ARGV[5])
local probe = ARGV[6] == '1'

local circuit_open = redis.call('EXISTS', KEYS[2])
local state = redis.call('HMGET', KEYS[1], 'tat', 'pause_until', 'factor', 'factor_at')
local tat = tonumber(state[1]) or 0
local pause_until = tonumber(state[2]) or 0
local factor = current_factor(state[3], state[4], now, recovery)

local granted, wait = {}, 0
if circuit_open == 1 and not probe then
  wait = 0
elseif pause_until > now then
  wait = pause_until - now
else
  local interval = 1000000 / (rate * factor)
  while #granted < wanted do
    local slot = math.max(now, tat - tolerance)
    if slot - now > lookahead then break end
    granted[#granted + 1] = math.floor(slot - now)
    tat = math.max(tat, now) + interval
  end
  if #granted < wanted then wait = math.max(tat - tolerance - now - lookahead, 1) end
  if #granted > 0 then
    redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat))
    expire_rate_state(KEYS[1], now, tat, pause_until, factor, recovery)
  end
end
return {granted, math.floor(wait), math.floor(factor * 1000000),
        math.floor(math.max(pause_until - now, 0)), circuit_open}
)lua";

// Throttling. KEYS: rate state HASH. ARGV: pause ms (0 = no Retry-After:
// cut the rate instead), backoff multiplier, floor, recovery per second,
// hold us. A pause only ever extends. A cut applies at most once per hold.
// Returns {pause remaining us, factor in millionths, 1 if this call cut}.
inline constexpr std::string_view kRateThrottleBody = R"lua(
local now = now_us()
local pause_ms = tonumber(ARGV[1])
local backoff = tonumber(ARGV[2])
local floor = tonumber(ARGV[3])
local recovery = tonumber(ARGV[4])
local hold = tonumber(ARGV[5])

local state = redis.call('HMGET', KEYS[1], 'tat', 'pause_until', 'factor', 'factor_at', 'cut_at')
local tat = tonumber(state[1]) or 0
local pause_until = tonumber(state[2]) or 0
local factor = current_factor(state[3], state[4], now, recovery)
local cut = 0
if pause_ms > 0 then
  local wanted_until = now + pause_ms * 1000
  if wanted_until > pause_until then
    pause_until = wanted_until
    redis.call('HSET', KEYS[1], 'pause_until', string.format('%.0f', pause_until))
  end
else
  local cut_at = tonumber(state[5])
  if not cut_at or now - cut_at >= hold then
    factor = math.max(floor, factor * backoff)
    redis.call('HSET', KEYS[1], 'factor', string.format('%.6f', factor),
               'factor_at', string.format('%.0f', now), 'cut_at', string.format('%.0f', now))
    cut = 1
  end
end
expire_rate_state(KEYS[1], now, tat, pause_until, factor, recovery)
return {math.floor(math.max(pause_until - now, 0)), math.floor(factor * 1000000), cut}
)lua";

// Opens (or re-opens) the provider circuit. KEYS: circuit HASH (reason,
// opened_at, probe_at; Unix ms), probe lock. ARGV: reason, cool-down ms,
// max stored reason bytes. Every call restarts the cool-down and frees the
// probe lock. Returns {1 if it was closed before, probe due in ms}.
inline constexpr std::string_view kCircuitOpenBody = R"lua(
local now = now_ms()
local cooldown = tonumber(ARGV[2])
local was_open = redis.call('EXISTS', KEYS[1])
redis.call('HSET', KEYS[1], 'reason', safe_text(ARGV[1], tonumber(ARGV[3])), 'probe_at', now + cooldown)
redis.call('HSETNX', KEYS[1], 'opened_at', now)
redis.call('DEL', KEYS[2])
return {1 - was_open, cooldown}
)lua";

// Reads the circuit and, once its probe is due, lets one caller win the
// probe lock (SET NX PX). KEYS: circuit HASH, probe lock. ARGV: holder
// name, lock ms. Returns {0 closed | 1 open | 2 open and this caller
// probes, ms until worth asking again, reason}.
inline constexpr std::string_view kCircuitCheckBody = R"lua(
local now = now_ms()
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, ''} end
local state = redis.call('HMGET', KEYS[1], 'probe_at', 'reason')
local probe_at = tonumber(state[1]) or 0
local reason = state[2] or ''
if now < probe_at then return {1, probe_at - now, reason} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, 0, reason} end
return {1, math.max(redis.call('PTTL', KEYS[2]), 1), reason}
)lua";

// Closes the circuit. KEYS: circuit HASH, probe lock. Returns 1 if it was open.
inline constexpr std::string_view kCircuitCloseBody = R"lua(
local was_open = redis.call('EXISTS', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
return was_open
)lua";

enum class Script {
  drain, claim, complete, release, enqueue, stats, requeue_dead,
  rate_acquire, rate_throttle, circuit_open, circuit_check, circuit_close,
};
inline constexpr std::size_t kScriptCount = 12;

inline std::string_view script_name(Script script) {
  static constexpr std::array<std::string_view, kScriptCount> kNames{
      "DRAIN", "CLAIM", "COMPLETE", "RELEASE", "ENQUEUE", "STATS", "REQUEUE_DEAD",
      "RATE_ACQUIRE", "RATE_THROTTLE", "CIRCUIT_OPEN", "CIRCUIT_CHECK", "CIRCUIT_CLOSE"};
  return kNames[static_cast<std::size_t>(script)];
}

// The full source of `script`: the prelude and its body.
inline std::string script_source(Script script) {
  static constexpr std::array<std::string_view, kScriptCount> kBodies{
      kDrainBody, kClaimBody, kCompleteBody, kReleaseBody, kEnqueueBody, kStatsBody, kRequeueDeadBody,
      kRateAcquireBody, kRateThrottleBody, kCircuitOpenBody, kCircuitCheckBody, kCircuitCloseBody};
  std::string source(kPrelude);
  source += kBodies[static_cast<std::size_t>(script)];
  return source;
}

}  // namespace smm::queue::detail
