#pragma once
// The queue's Lua scripts. Each runs atomically inside Redis, takes every
// key through KEYS (all under one hash tag) and reads the time with
// redis.call('TIME'), so instance clocks do not matter. Every script does
// O(batch) work, except REQUEUE_DEAD, which walks the whole dead list.
//
// A script's source is kPrelude followed by its body. The prelude contains
// the helpers the scripts share.

#include <array>
#include <string>
#include <string_view>

namespace smm::queue::detail {

// Helpers shared by the scripts.
//  parse_id mirrors smm::parse_order_id (common/order_id.cpp): trim ASCII
//  whitespace, then 1 to 20 ASCII digits, with the same reasons.
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
  local id = trim(raw)
  if #id == 0 then return nil, 'empty payload' end
  if #id > 20 then return nil, 'id longer than 20 digits' end
  if not string.find(id, '^[0-9]+$') then return nil, 'id is not a decimal number' end
  return id
end

-- Exact member check for ids already in the schedule (no trimming).
local function is_exact_id(s)
  return #s >= 1 and #s <= 20 and string.find(s, '^[0-9]+$') ~= nil
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

local function lease_token(held)
  if not held then return nil end
  return string.match(held, '^(%d+):')
end

local function lease_expiry(held)
  if not held then return nil end
  return tonumber(string.match(held, ':(%d+)$'))
end
)lua";

// KEYS: inbox, schedule, since, dead. ARGV: max entries, max stored payload
// bytes. Producers LPUSH, so RPOP takes the oldest entries first. Returns
// {scheduled, dead}.
inline constexpr std::string_view kDrainBody = R"lua(
local now = now_ms()
local max_bytes = tonumber(ARGV[2])
local popped = redis.call('RPOP', KEYS[1], ARGV[1])
if not popped then return {0, 0} end
local scheduled, dead = 0, 0
for _, raw in ipairs(popped) do
  local id, why = parse_id(raw)
  if id then
    -- LT adds new ids and only ever moves an existing one earlier.
    redis.call('ZADD', KEYS[2], 'LT', now, id)
    redis.call('HSETNX', KEYS[3], id, now)
    scheduled = scheduled + 1
  else
    redis.call('LPUSH', KEYS[4], dead_entry(raw, why, now, max_bytes))
    dead = dead + 1
  end
end
return {scheduled, dead}
)lua";

// KEYS: schedule, lease, seq, bump, since, attempts, failures, dead.
// ARGV: max ids, lease ms, give_up_after ms, max stored payload bytes.
// Returns {{{id, token, attempts, failures}...}, given_up, invalid,
// earliest remaining score as a string or ""}.
inline constexpr std::string_view kClaimBody = R"lua(
local now = now_ms()
local lease_ms = tonumber(ARGV[2])
local give_up_ms = tonumber(ARGV[3])
local max_bytes = tonumber(ARGV[4])
local function forget(id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  redis.call('HDEL', KEYS[6], id)
  redis.call('HDEL', KEYS[7], id)
end

local claims, given_up, invalid = {}, 0, 0
local due = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, ARGV[1])
for _, id in ipairs(due) do
  local expiry = lease_expiry(redis.call('HGET', KEYS[2], id))
  local since = tonumber(redis.call('HGET', KEYS[5], id))
  if not is_exact_id(id) then
    -- Producers may ZADD the schedule directly; never hand out garbage.
    forget(id)
    redis.call('LPUSH', KEYS[8], dead_entry(id, 'schedule member is not a valid id', now, max_bytes))
    invalid = invalid + 1
  elseif expiry and expiry > now then
    -- Someone holds it (e.g. a producer moved it earlier mid-poll): wait for
    -- the lease to end, and ask the holder to poll again soon.
    redis.call('ZADD', KEYS[1], expiry, id)
    redis.call('HSET', KEYS[4], id, 1)
  elseif since and now - since > give_up_ms then
    forget(id)
    local reason = 'not final after give_up_after (' .. math.floor(give_up_ms / 1000) .. 's)'
    redis.call('LPUSH', KEYS[8], dead_entry(id, reason, now, max_bytes))
    given_up = given_up + 1
  else
    local token = redis.call('INCR', KEYS[3])
    local lease_end = now + lease_ms
    redis.call('ZADD', KEYS[1], lease_end, id)
    redis.call('HSET', KEYS[2], id, string.format('%d:%d', token, lease_end))
    local attempts = tonumber(redis.call('HGET', KEYS[6], id)) or 0
    local failures = tonumber(redis.call('HGET', KEYS[7], id)) or 0
    claims[#claims + 1] = {id, token, attempts, failures}
  end
end

local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {claims, given_up, invalid, first[2] or ''}
)lua";

// KEYS: schedule, lease, bump, since, attempts, failures, dead.
// ARGV: max stored payload bytes, then groups of (id, token, kind, due ms,
// reason). A group whose token is not the current lease's is stale and
// skipped. Returns {applied, stale}.
inline constexpr std::string_view kCompleteBody = R"lua(
local now = now_ms()
local max_bytes = tonumber(ARGV[1])
local kinds = {done = true, reschedule = true, retry_transient = true,
               retry_rejected = true, dead = true}
local applied, stale = 0, 0
for i = 2, #ARGV - 4, 5 do
  local id, token, kind = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local due = tonumber(ARGV[i + 3]) or now
  local reason = ARGV[i + 4]
  if not kinds[kind] or lease_token(redis.call('HGET', KEYS[2], id)) ~= token then
    stale = stale + 1
  else
    redis.call('HDEL', KEYS[2], id)
    if kind == 'done' then
      redis.call('ZREM', KEYS[1], id)
      redis.call('HDEL', KEYS[3], id)
      redis.call('HDEL', KEYS[4], id)
      redis.call('HDEL', KEYS[5], id)
      redis.call('HDEL', KEYS[6], id)
    elseif kind == 'reschedule' then
      -- A producer asked for a fresh poll while we held the lease.
      local bumped = redis.call('HGET', KEYS[3], id)
      redis.call('ZADD', KEYS[1], bumped and now or due, id)
      redis.call('HDEL', KEYS[3], id)
      redis.call('HDEL', KEYS[5], id)
      redis.call('HDEL', KEYS[6], id)
    elseif kind == 'retry_transient' then
      -- The retry is itself the fresh poll a bump asked for.
      redis.call('ZADD', KEYS[1], due, id)
      redis.call('HINCRBY', KEYS[6], id, 1)
      redis.call('HDEL', KEYS[3], id)
    elseif kind == 'retry_rejected' then
      redis.call('ZADD', KEYS[1], due, id)
      redis.call('HINCRBY', KEYS[5], id, 1)
      redis.call('HDEL', KEYS[6], id)
      redis.call('HDEL', KEYS[3], id)
    else
      redis.call('ZREM', KEYS[1], id)
      redis.call('LPUSH', KEYS[7], dead_entry(id, safe_text(reason, max_bytes), now, max_bytes))
      redis.call('HDEL', KEYS[3], id)
      redis.call('HDEL', KEYS[4], id)
      redis.call('HDEL', KEYS[5], id)
      redis.call('HDEL', KEYS[6], id)
    end
    applied = applied + 1
  end
end
return {applied, stale}
)lua";

// KEYS: schedule, lease. ARGV: pairs of (id, token). Ids whose lease is still
// the given one become due now. Returns the number released.
inline constexpr std::string_view kReleaseBody = R"lua(
local now = now_ms()
local released = 0
for i = 1, #ARGV - 1, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if lease_token(redis.call('HGET', KEYS[2], id)) == token then
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZADD', KEYS[1], now, id)
    released = released + 1
  end
end
return released
)lua";

// KEYS: schedule, since. ARGV: ids (checked by the caller; checked again
// here because the schedule must never hold garbage). Returns the number
// scheduled.
inline constexpr std::string_view kEnqueueBody = R"lua(
local now = now_ms()
local scheduled = 0
for _, id in ipairs(ARGV) do
  if is_exact_id(id) then
    redis.call('ZADD', KEYS[1], 'LT', now, id)
    redis.call('HSETNX', KEYS[2], id, now)
    scheduled = scheduled + 1
  end
end
return scheduled
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
  local expiry = lease_expiry(held)
  if expiry and expiry > now then leased = leased + 1 end
end
return {redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]),
        redis.call('ZCOUNT', KEYS[2], '-inf', now), first[2] or '', leased,
        redis.call('LLEN', KEYS[4]), now}
)lua";

// KEYS: dead, schedule, since, attempts, failures. ARGV: ids to requeue
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
    redis.call('ZADD', KEYS[2], 'LT', now, id)
    redis.call('HSETNX', KEYS[3], id, now)
    redis.call('HDEL', KEYS[4], id)
    redis.call('HDEL', KEYS[5], id)
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

enum class Script { drain, claim, complete, release, enqueue, stats, requeue_dead };
inline constexpr std::size_t kScriptCount = 7;

inline std::string_view script_name(Script script) {
  static constexpr std::array<std::string_view, kScriptCount> kNames{
      "DRAIN", "CLAIM", "COMPLETE", "RELEASE", "ENQUEUE", "STATS", "REQUEUE_DEAD"};
  return kNames[static_cast<std::size_t>(script)];
}

// The full source of `script`: the prelude and its body.
inline std::string script_source(Script script) {
  static constexpr std::array<std::string_view, kScriptCount> kBodies{
      kDrainBody, kClaimBody, kCompleteBody, kReleaseBody, kEnqueueBody, kStatsBody, kRequeueDeadBody};
  std::string source(kPrelude);
  source += kBodies[static_cast<std::size_t>(script)];
  return source;
}

}  // namespace smm::queue::detail
