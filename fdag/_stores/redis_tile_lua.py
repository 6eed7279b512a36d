"""The Lua functions of tile partial states, shared by the ingest and the window query scripts.

A key's phase (where its tiles start), exact float sums as expansions of non-overlapping doubles (Shewchuk) in
their canonical form, a tile's partial states packed as MessagePack or written as text (``redis_tiles`` reads
it), and the merge of two tiles' partial states. See ``redis_scripts`` for the layout of tiles.
"""

from __future__ import annotations

TILE_FUNCTIONS = """
local BIG, SPLIT, abs = 2^53, 134217729, math.abs
-- A key's tiles start at a phase drawn from its events key's name (the same in every script), so that the tiles of
-- different keys end at different instants and their sealing spreads over time.
local function phase(name, coarsest)
  return tonumber(string.sub(redis.sha1hex(name), 1, 12), 16) % coarsest
end
local function grow(p, x)
  local i = 0
  for j = 1, #p do
    local y = p[j]
    if abs(x) < abs(y) then x, y = y, x end
    local hi = x + y
    local lo = y - (hi - x)
    if lo ~= 0 then i = i + 1; p[i] = lo end
    x = hi
  end
  for j = #p, i + 1, -1 do p[j] = nil end
  if x ~= 0 then p[i + 1] = x end
  return x - x == 0
end
local function rounded(p)
  local n = #p
  if n == 0 then return 0 end
  local hi, lo = p[n], 0
  n = n - 1
  while n > 0 do
    local x, y = hi, p[n]
    n = n - 1
    hi = x + y
    lo = y - (hi - x)
    if lo ~= 0 then break end
  end
  if n > 0 and ((lo < 0 and p[n] < 0) or (lo > 0 and p[n] > 0)) then
    local y = lo * 2
    local x = hi + y
    if y == x - hi then hi = x end
  end
  return hi
end
local function canonical(p)
  local rest, out = {}, {}
  for j = 1, #p do rest[j] = p[j] end
  while #rest > 0 do
    local hi = rounded(rest)
    if hi == 0 then break end
    table.insert(out, 1, hi)
    grow(rest, -hi)
  end
  return out
end
-- A column's partial: {count, first ts, last ts, min, max, inexact (0/1), sum expansion, squares expansion}.
local function empty(width)
  local tile = {}
  for c = 1, width do tile[c] = {0, false, false, false, false, 0, {}, {}} end
  return tile
end
local function pack(tile)
  local out = {}
  for c = 1, #tile do
    local p = tile[c]
    out[c] = {p[1], p[2], p[3], p[4], p[5], p[6], canonical(p[7]), canonical(p[8])}
  end
  return cmsgpack.pack(out)
end
local function num(v) return v == false and '' or string.format('%.17g', v) end
local function list(p)
  local parts = {}
  for j = 1, #p do parts[j] = string.format('%.17g', p[j]) end
  return table.concat(parts, ' ')
end
local function text(tile)
  local parts = {}
  for c = 1, #tile do
    local p = tile[c]
    parts[c] = num(p[1]) .. ',' .. num(p[2]) .. ',' .. num(p[3]) .. ',' .. num(p[4]) .. ',' .. num(p[5]) .. ',' ..
      (p[6] == 1 and '1' or '') .. ',' .. list(p[7]) .. ',' .. list(p[8])
  end
  return table.concat(parts, '|')
end
local function lower(a, b) return a == false or b < a or (b == 0 and a == 0 and 1 / b < 0) end
local function higher(a, b) return a == false or b > a or (b == 0 and a == 0 and 1 / b > 0) end
local function merge(into, tile)
  for c = 1, #into do
    local p, o = into[c], tile[c]
    p[1] = p[1] + o[1]
    if o[2] and (not p[2] or o[2] < p[2]) then p[2] = o[2] end
    if o[3] and (not p[3] or o[3] > p[3]) then p[3] = o[3] end
    if o[4] and lower(p[4], o[4]) then p[4] = o[4] end
    if o[5] and higher(p[5], o[5]) then p[5] = o[5] end
    if o[6] == 1 then p[6] = 1 end
    local s, q = o[7], o[8]
    for j = 1, #s do if not grow(p[7], s[j]) then p[6] = 1 end end
    for j = 1, #q do if not grow(p[8], q[j]) then p[6] = 1 end end
  end
end
"""
