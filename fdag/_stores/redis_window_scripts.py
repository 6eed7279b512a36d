"""The Lua scripts of window queries: the events of a score range, and the read from pre-aggregated tiles.

Both are read-only and run atomically, so the watermark, the bounds, the tiles and the events they return are
one consistent state. The tile layout they read is described in ``redis_scripts``.
"""

from __future__ import annotations

from fdag._stores.redis_tile_lua import TILE_FUNCTIONS

# The events of one key in a score range, the watermark and the bounds: the window query without tiles. Events are
# returned as runs (here one), each the reply of one ZRANGEBYSCORE as it is (copying members into one table costs
# ~8 µs per 222; joining them with table.concat ~36 µs, more than the client saves; Redis 7.0).
QUERY = """
local events = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
local bounds = redis.call('HMGET', KEYS[3], 'oldest', 'dropped')
return {{events}, redis.call('GET', KEYS[2]) or '', bounds[1] or '', bounds[2] or ''}
"""

# The window query with tiles: KEYS = events, wm, bounds, tile hash; ARGV = as_of (µs), retention, tile widths,
# the start of the raw range ('' : none) and whether it includes as_of, then 3 per window: its start, whether it
# includes as_of, and whether to fetch the events at its tiles' first and last timestamps. Returns the watermark,
# the bounds, then 1 and the events of the longest window when the key has no tile; else 0, the raw events every
# window and the raw range need, each read once (one ZRANGEBYSCORE per run of overlapping ranges), in score
# order (as runs, one per ZRANGEBYSCORE, as in QUERY), then per window: the merged tiles (text, '' if none) and
# the ranges [from, to) (µs, flat) of its raw events: where its edges cut a tile or a tile is missing. The
# first/last candidates (the events at the merged first and last timestamps) are among the raw events.
TILE_QUERY = TILE_FUNCTIONS + """
local t = tonumber(ARGV[1])
local wm = redis.call('GET', KEYS[2])
local bounds = redis.call('HMGET', KEYS[3], 'oldest', 'dropped')
local out = {wm or '', bounds[1] or '', bounds[2] or ''}
local W = {}
for w in string.gmatch(ARGV[3], '%S+') do W[#W + 1] = tonumber(w) end
local horizon = wm and (tonumber(wm) - tonumber(ARGV[2])) or math.huge
local finest = redis.call('HGET', KEYS[4], 'finest')
if not finest and redis.call('EXISTS', KEYS[4]) == 0 then
  -- No tile kept (a sparse key): the events of the longest window, once.
  local lo, inclusive = ARGV[4], ARGV[5]
  for w = 6, #ARGV, 3 do
    if lo == '' or tonumber(ARGV[w]) < tonumber(lo) then lo = ARGV[w] end
    if ARGV[w + 1] == '1' then inclusive = '1' end
  end
  out[4] = 1
  out[5] = lo ~= '' and {redis.call('ZRANGEBYSCORE', KEYS[1], lo, (inclusive == '1' and '' or '(') .. ARGV[1])} or {}
  return out
end
-- No tile finer than the level the hash records was ever sealed for the key: the cover starts there.
local L = (finest and tonumber(finest) or 0) + 1
out[4] = 0
local F = phase(KEYS[1], W[#W])
-- The tiles covering [a, b) (relative to the phase, aligned to level L) in start order: per level from L the runs
-- left and right of the next coarser level's aligned middle, then that middle at the coarsest level reached.
local function cover(a, b)
  local runs, right, l = {}, {}, L
  while l < #W do
    local up = W[l + 1]
    local a2, b2 = math.ceil(a / up) * up, math.floor(b / up) * up
    if a2 >= b2 then break end
    runs[#runs + 1], right[#right + 1] = {l, a, a2}, {l, b2, b}
    a, b, l = a2, b2, l + 1
  end
  runs[#runs + 1] = {l, a, b}
  for j = #right, 1, -1 do runs[#runs + 1] = right[j] end
  local tiles_ = {}
  for _, run in ipairs(runs) do
    local width, level = W[run[1]], (run[1] - 1) .. ':'
    for s = run[2] + F, run[3] + F - width, width do
      tiles_[#tiles_ + 1] = {s, s + width, level .. string.format('%d', s)}
    end
  end
  return tiles_
end
-- Every window's tiles, read in one HMGET (windows ending at the same instant share their finer tiles).
local covers, names, slot = {}, {}, {}
for w = 6, #ARGV, 3 do
  local start = math.max(tonumber(ARGV[w]), horizon)
  local a, b = math.ceil((start - F) / W[L]) * W[L], math.floor((t - F) / W[L]) * W[L]  -- relative to the phase
  local tiles_ = a < b and cover(a, b) or {}
  for _, tile in ipairs(tiles_) do
    if not slot[tile[3]] then names[#names + 1] = tile[3]; slot[tile[3]] = #names end
  end
  covers[#covers + 1] = tiles_
end
local texts = {}
for s = 1, #names, 4000 do
  local part = redis.call('HMGET', KEYS[4], unpack(names, s, math.min(s + 3999, #names)))
  for j = 1, #part do texts[s + j - 1] = part[j] end
end
-- Per window: merge its tiles, and note the ranges it reads raw (and the points of its first/last candidates).
local ranges = {}
if ARGV[4] ~= '' then ranges[1] = {tonumber(ARGV[4]), ARGV[5] == '1' and t + 1 or t} end
for j, tiles_ in ipairs(covers) do
  local w = 3 * j + 3
  local cursor, merged, spans = tonumber(ARGV[w]), nil, {}
  local function span(lo, hi)
    if lo < hi then spans[#spans + 1] = lo; spans[#spans + 1] = hi; ranges[#ranges + 1] = {lo, hi} end
  end
  for _, tile in ipairs(tiles_) do
    local found = texts[slot[tile[3]]]
    if found then
      span(cursor, tile[1])
      cursor = tile[2]
      local partial = cmsgpack.unpack(found)
      if merged then merge(merged, partial) else merged = partial end
    end
  end
  span(cursor, ARGV[w + 1] == '1' and t + 1 or t)
  if merged and ARGV[w + 2] == '1' then
    for c = 1, #merged do
      for _, at in ipairs({merged[c][2], merged[c][3]}) do
        if at then ranges[#ranges + 1] = {at, at + 1} end
      end
    end
  end
  out[5 + j] = {merged and text(merged) or '', spans}
end
-- The union of the ranges, each run of overlapping ones read once.
table.sort(ranges, function(x, y) return x[1] < y[1] end)
local runs, lo, hi = {}, nil, nil
local function read()
  if lo then
    local part = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('%d', lo), '(' .. string.format('%d', hi))
    runs[#runs + 1] = part
  end
end
for _, range in ipairs(ranges) do
  if lo and range[1] <= hi then
    if range[2] > hi then hi = range[2] end
  else
    read()
    lo, hi = range[1], range[2]
  end
end
read()
out[5] = runs
return out
"""
