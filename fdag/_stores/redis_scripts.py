"""The Lua scripts of ``RedisStore``: ingest (events, ids, tiles, bounds, eviction), window and lookup queries.

Each runs atomically on the server: nothing else runs between its commands. A script's writes are not rolled
back when it fails part-way, so everything that can fail is checked before the first write (a key of the wrong
type, e.g. another program's key in the namespace), and the writes are ordered so that a failure at any point
leaves a re-send of the batch correct: events first (re-adding a member is a no-op), then the ids that mark them
applied, then the tiles, then the bounds, then the watermark, then eviction. A re-sent event whose id is held at
its own timestamp moves the bounds and the watermark, is evicted from as if applied now, and has its tiles
recomputed from the held events: a no-op when the earlier run finished (they are past it, and a tile is a
function of the events it covers), the repair when it failed before them. The bounds precede the watermark: a
state that failed between them refuses more past queries, not fewer.

Tiles (``redis_tiles``): per entity key, a hash ``t:<key>`` of ``level:start`` -> the tile's partial states
(text), and a sorted set ``i:<key>`` of those fields scored by start, for eviction. Float sums are kept exactly,
as expansions of non-overlapping doubles (Shewchuk), written in the one canonical form (each component the
correctly rounded value of what the ones before leave), so a tile's text depends only on the events it covers.
"""

from __future__ import annotations

# The shared Lua functions of the tile partial states (see ``redis_tiles`` for the text format).
_TILE_FUNCTIONS = """
local BIG, SPLIT = 2^53, 134217729
local function grow(p, x)
  local i = 0
  for j = 1, #p do
    local y = p[j]
    if math.abs(x) < math.abs(y) then x, y = y, x end
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

# Ingest: KEYS = wm, ids, keys, seq, bounds, then one event set per entity key. ARGV = retention, the watermark to
# assume ('' : the stored one), with ids ('1'/'0'), quiet keys to delete at most, the newest timestamp a bootstrap
# skipped (''), the tile layout ('' : no tiles; see ``redis_tiles.TilePlan.config``), then 4 per event:
# entity position in KEYS, timestamp, id, encoded event.
INGEST = _TILE_FUNCTIONS + """
local function zadd(key, pairs_)
  for s = 1, #pairs_, 4000 do redis.call('ZADD', key, unpack(pairs_, s, math.min(s + 3999, #pairs_))) end
end
local function chunked(command, key, items)
  local out = {}
  for s = 1, #items, 4000 do
    local part = redis.call(command, key, unpack(items, s, math.min(s + 3999, #items)))
    if type(part) == 'table' then for j = 1, #part do out[#out + 1] = part[j] end end
  end
  return out
end
local W, COLS, DENSE, tiles = {}, {}, 0, ARGV[6] ~= ''
if tiles then
  local widths, at, dense, columns = string.match(ARGV[6], '^([^;]*);([^;]*);([^;]*);(.*)$')
  DENSE = tonumber(dense)
  for w in string.gmatch(widths, '%S+') do W[#W + 1] = tonumber(w) end
  for j, kind, reads in string.gmatch(columns, '(%d+):(%a)(%a*)') do
    COLS[#COLS + 1] = {at = tonumber(at) + tonumber(j), kind = kind, num = reads ~= '', s = string.find(reads, 's'),
                       q = string.find(reads, 'q'), mn = string.find(reads, 'm'), mx = string.find(reads, 'M')}
  end
end
local P = string.sub(KEYS[1], 1, -3)
local function tile_keys(name)
  local rest = string.sub(name, #P + 2)
  return P .. 't' .. rest, P .. 'i' .. rest
end
for k = 1, #KEYS do
  local names = {KEYS[k]}
  if k > 5 and tiles then names[2], names[3] = tile_keys(KEYS[k]) end
  for j = 1, #names do
    local kind = redis.call('TYPE', names[j])['ok']
    local want = (k == 1 or k == 4) and 'string' or ((k == 5 or j == 2) and 'hash' or 'zset')
    if kind ~= 'none' and kind ~= want then
      return redis.error_reply('WRONGTYPE key ' .. names[j] .. ' holds a ' .. kind .. ', not a ' .. want ..
        ' (nothing was written)')
    end
  end
end
local function absorb(tile, member, ts)
  local ok, row = false, nil
  if math.abs(ts) < BIG then ok, row = pcall(cjson.decode, '[' .. member .. ']') end
  for c = 1, #COLS do
    local col, p = COLS[c], tile[c]
    local v = ok and row[col.at]
    if not ok then p[6] = 1
    elseif v ~= nil and v ~= cjson.null then
      p[1] = p[1] + 1
      if not p[2] or ts < p[2] then p[2] = ts end
      if not p[3] or ts > p[3] then p[3] = ts end
      if col.num and p[6] == 0 then
        if col.kind == 'b' then
          if v == true then v = 1 elseif v == false then v = 0 else v = nil end
        elseif type(v) ~= 'number' or v - v ~= 0 then
          v = nil
        elseif col.kind == 'i' and (v ~= math.floor(v) or math.abs(v) >= BIG) then
          v = nil
        end
        local a = v and math.abs(v)
        if v == nil or (col.q and (a > 2^500 or (a ~= 0 and a < 2^-480))) then p[6] = 1 else
          if col.s and not grow(p[7], v) then p[6] = 1 end
          if col.q then
            local c1 = SPLIT * v
            local hi = c1 - (c1 - v)
            local low = v - hi
            local square = v * v
            local rest = ((hi * hi - square) + 2 * hi * low) + low * low
            if not (grow(p[8], square) and grow(p[8], rest)) then p[6] = 1 end
          end
          if col.mn and lower(p[4], v) then p[4] = v end
          if col.mx and higher(p[5], v) then p[5] = v end
        end
      end
    end
  end
end
local retention = tonumber(ARGV[1])
local top_text = redis.call('GET', KEYS[1])
local top = top_text and tonumber(top_text) or -math.huge
local stored = top
if ARGV[2] ~= '' and tonumber(ARGV[2]) > top then top = tonumber(ARGV[2]); top_text = ARGV[2] end
local horizon = top - retention
local bounds = redis.call('HMGET', KEYS[5], 'oldest', 'dropped')
local oldest_text, dropped_text, bounds_moved = bounds[1], bounds[2], false
local oldest = oldest_text and tonumber(oldest_text) or math.huge
local dropped = dropped_text and tonumber(dropped_text) or -math.huge
if ARGV[5] ~= '' and tonumber(ARGV[5]) > dropped then
  dropped = tonumber(ARGV[5]); dropped_text = ARGV[5]; bounds_moved = true
end
local with_ids = ARGV[3] == '1'
local n = (#ARGV - 6) / 4
local held, seq = {}, 0
if with_ids then
  local ids = {}
  for e = 1, n do ids[e] = ARGV[4 * e + 5] end
  for s = 1, n, 4000 do
    local scores = redis.call('ZMSCORE', KEYS[2], unpack(ids, s, math.min(s + 3999, n)))
    for j = 1, #scores do held[s + j - 1] = scores[j] end
  end
elseif n > 0 then
  seq = redis.call('INCRBY', KEYS[4], n) - n
end
local fresh, new_ids, added, newest, tiled, redo = {}, {}, {}, {}, {}, {}
local accepted, duplicates, late = 0, 0, 0
for e = 1, n do
  local i = 4 * e + 3
  local ts_text, id = ARGV[i + 1], ARGV[i + 2]
  local ts = tonumber(ts_text)
  local k = tonumber(ARGV[i])
  if with_ids and (held[e] or fresh[id]) then
    duplicates = duplicates + 1
    if held[e] and tonumber(held[e]) == ts and not fresh[id] then
      if ts > top then top = ts; top_text = ts_text; horizon = ts - retention end
      if ts < oldest then oldest = ts; oldest_text = ts_text; bounds_moved = true end
      if not newest[k] or ts > newest[k][1] then newest[k] = {ts, ts_text} end
      if tiles then redo[k] = redo[k] or {}; table.insert(redo[k], ts) end
    end
  elseif ts < horizon then
    late = late + 1
    -- Once the horizon has passed an accepted event, one dropped below it cannot move complete_from: not
    -- recorded, so a re-send after a failure during eviction (evicted ids come back too late) writes the same.
    if ts > dropped and horizon <= oldest then dropped = ts; dropped_text = ts_text; bounds_moved = true end
  else
    if ts < oldest then oldest = ts; oldest_text = ts_text; bounds_moved = true end
    if ts > top then top = ts; top_text = ts_text; horizon = ts - retention end
    local member = ARGV[i + 3]
    if tiles then tiled[k] = tiled[k] or {}; table.insert(tiled[k], {ts, member}) end
    if with_ids then
      fresh[id] = true
      new_ids[#new_ids + 1] = ts_text
      new_ids[#new_ids + 1] = id
    else
      member = member .. ',' .. string.format('%d', seq + e)
    end
    local list_ = added[k]
    if not list_ then list_ = {}; added[k] = list_ end
    list_[#list_ + 1] = ts_text
    list_[#list_ + 1] = member
    if not newest[k] or ts > newest[k][1] then newest[k] = {ts, ts_text} end
    accepted = accepted + 1
  end
end
for k, list_ in pairs(added) do zadd(KEYS[k], list_) end
for k, n_ in pairs(newest) do redis.call('ZADD', KEYS[3], 'GT', n_[2], KEYS[k]) end
if #new_ids > 0 then zadd(KEYS[2], new_ids) end
-- Tiles of every key with accepted or re-sent events. A tile is kept once its range holds DENSE events (a
-- query reads the events of a missing tile's range instead), never below the horizon (no query reads it, and
-- its events may be evicted); a kept tile covers every event in its range. New and re-sent tiles are computed
-- from what they cover (held events, or the tiles below), the others updated with the batch's events.
local function tile_name(l, s) return (l - 1) .. ':' .. string.format('%d', s) end
local function until_(s, l) return '(' .. string.format('%d', s + W[l]) end
for k in pairs(newest) do
  if not tiles then break end
  local hash, index = tile_keys(KEYS[k])
  local slots, names = {}, {}
  local function slot(l, ts)
    local s = math.floor(ts / W[l]) * W[l]
    if s < horizon then return nil end
    local name = tile_name(l, s)
    local found = slots[name]
    if not found then
      found = {l = l, s = s, name = name, events = {}, children = {}}
      slots[name] = found
      names[#names + 1] = name
    end
    return found
  end
  local function chain(ts, event)
    local child = nil
    for l = 1, #W do
      local here = slot(l, ts)
      if not here then break end
      if event then
        if l == 1 then table.insert(here.events, event) else here.children[child] = true end
      else
        here.redo = true
      end
      if child then child.parent = here end
      child = here
    end
  end
  for _, event in ipairs(tiled[k] or {}) do chain(event[1], event) end
  for _, ts in ipairs(redo[k] or {}) do chain(ts, nil) end
  local function delta(here)
    if not here.delta then
      local tile = empty(#COLS)
      if here.l == 1 then
        for _, event in ipairs(here.events) do absorb(tile, event[2], event[1]) end
      else
        for child in pairs(here.children) do merge(tile, delta(child)) end
      end
      here.delta = tile
    end
    return here.delta
  end
  if #names > 0 then
    local stored_ = chunked('HMGET', hash, names)
    local by_level = {}
    for j, name in ipairs(names) do
      local here = slots[name]
      here.stored = stored_[j]
      by_level[here.l] = by_level[here.l] or {}
      table.insert(by_level[here.l], here)
    end
    for l = #W, 1, -1 do
      for _, here in ipairs(by_level[l] or {}) do
        if here.stored then here.keep = true
        elseif here.parent and not here.parent.keep then here.keep = false
        else here.keep = redis.call('ZCOUNT', KEYS[k], here.s, until_(here.s, l)) >= DENSE end
      end
    end
    local writes, scored = {}, {}
    for l = 1, #W do
      for _, here in ipairs(by_level[l] or {}) do
        if here.keep then
          local tile
          if here.stored and not here.redo then
            tile = cmsgpack.unpack(here.stored)
            merge(tile, delta(here))
          else
            tile = empty(#COLS)
            local below, wanted = {}, {}
            if l > 1 then
              for s = here.s, here.s + W[l] - W[l - 1], W[l - 1] do
                local child = slots[tile_name(l - 1, s)]
                if child and child.keep then merge(tile, child.tile) else wanted[#wanted + 1] = s end
              end
              local names_ = {}
              for j, s in ipairs(wanted) do names_[j] = tile_name(l - 1, s) end
              local found = #names_ > 0 and chunked('HMGET', hash, names_) or {}
              for j, s in ipairs(wanted) do
                if found[j] then merge(tile, cmsgpack.unpack(found[j])) else below[#below + 1] = {s, l - 1} end
              end
            else
              below[1] = {here.s, 1}
            end
            for _, range in ipairs(below) do
              for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[k], range[1], until_(range[1], range[2]))) do
                absorb(tile, member, tonumber(string.match(member, '^[^,]+')))
              end
            end
          end
          here.tile = tile
          writes[#writes + 1] = here.name
          writes[#writes + 1] = pack(tile)
          scored[#scored + 1] = string.format('%d', here.s)
          scored[#scored + 1] = here.name
        end
      end
    end
    if #writes > 0 then
      chunked('HSET', hash, writes)
      zadd(index, scored)
    end
  end
end
if bounds_moved then redis.call('HSET', KEYS[5], 'oldest', oldest_text or '', 'dropped', dropped_text or '') end
if top ~= stored then redis.call('SET', KEYS[1], top_text) end
if top > -math.huge then
  local cut = '(' .. string.format('%.17g', horizon)
  for k in pairs(newest) do
    redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', cut)
    if tiles then
      local hash, index = tile_keys(KEYS[k])
      local old = redis.call('ZRANGEBYSCORE', index, '-inf', cut)
      if #old > 0 then
        chunked('HDEL', hash, old)
        redis.call('ZREMRANGEBYSCORE', index, '-inf', cut)
      end
    end
  end
  if with_ids then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cut) end
  local quiet = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cut, 'LIMIT', 0, tonumber(ARGV[4]))
  for _, name in ipairs(quiet) do
    if tiles then redis.call('DEL', name, tile_keys(name)) else redis.call('DEL', name) end
    redis.call('ZREM', KEYS[3], name)
  end
end
return {accepted, duplicates, late}
"""

# The events of one key in a score range, the watermark and the bounds: the window query without tiles.
QUERY = """
local events = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
events[#events + 1] = redis.call('GET', KEYS[2]) or ''
local bounds = redis.call('HMGET', KEYS[3], 'oldest', 'dropped')
events[#events + 1] = bounds[1] or ''
events[#events + 1] = bounds[2] or ''
return events
"""

# The window query with tiles: KEYS = events, wm, bounds, tile hash; ARGV = as_of (µs), retention, tile widths,
# the start of the raw range ('' : none) and whether it includes as_of, then 3 per window: its start, whether it
# includes as_of, and whether to fetch the events at its tiles' first and last timestamps. Returns the watermark,
# the bounds, then 1 and the events of the longest window when the key has no tile; else 0, the raw range's
# events, then per window: the merged tiles (text, '' if none), the events where the window's edges cut a tile
# or a tile is missing, and the first/last candidates.
TILE_QUERY = _TILE_FUNCTIONS + """
local t = tonumber(ARGV[1])
local wm = redis.call('GET', KEYS[2])
local bounds = redis.call('HMGET', KEYS[3], 'oldest', 'dropped')
local out = {wm or '', bounds[1] or '', bounds[2] or ''}
local W = {}
for w in string.gmatch(ARGV[3], '%S+') do W[#W + 1] = tonumber(w) end
local horizon = wm and (tonumber(wm) - tonumber(ARGV[2])) or math.huge
local function high(inclusive) return inclusive == '1' and ARGV[1] or '(' .. ARGV[1] end
if redis.call('EXISTS', KEYS[4]) == 0 then
  -- No tile kept (a sparse key): the events of the longest window, once.
  local lo, inclusive = ARGV[4], ARGV[5]
  for w = 6, #ARGV, 3 do
    if lo == '' or tonumber(ARGV[w]) < tonumber(lo) then lo = ARGV[w] end
    if ARGV[w + 1] == '1' then inclusive = '1' end
  end
  out[4] = 1
  out[5] = lo ~= '' and redis.call('ZRANGEBYSCORE', KEYS[1], lo, high(inclusive)) or {}
  return out
end
out[4] = 0
out[5] = ARGV[4] ~= '' and redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[4], high(ARGV[5])) or {}
local function add_run(tiles_, l, a, b)
  for s = a, b - W[l], W[l] do tiles_[#tiles_ + 1] = {s, s + W[l], (l - 1) .. ':' .. string.format('%d', s)} end
end
local function cover(a, b)
  local tiles_ = {}
  for l = 1, #W do
    if l == #W then add_run(tiles_, l, a, b); break end
    local up = W[l + 1]
    local a2, b2 = math.ceil(a / up) * up, math.floor(b / up) * up
    if a2 >= b2 then add_run(tiles_, l, a, b); break end
    add_run(tiles_, l, a, a2)
    add_run(tiles_, l, b2, b)
    a, b = a2, b2
  end
  table.sort(tiles_, function(x, y) return x[1] < y[1] end)
  return tiles_
end
for w = 6, #ARGV, 3 do
  local lo, inclusive = ARGV[w], ARGV[w + 1]
  local start = math.max(tonumber(lo), horizon)
  local a, b = math.ceil(start / W[1]) * W[1], math.floor(t / W[1]) * W[1]
  local merged, edges, candidates, cursor = nil, {}, {}, lo
  local function raw(upto)
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], cursor, upto)) do edges[#edges + 1] = member end
  end
  if a < b then
    local tiles_ = cover(a, b)
    local names = {}
    for j, tile in ipairs(tiles_) do names[j] = tile[3] end
    local texts = {}
    for s = 1, #names, 4000 do
      local part = redis.call('HMGET', KEYS[4], unpack(names, s, math.min(s + 3999, #names)))
      for j = 1, #part do texts[s + j - 1] = part[j] end
    end
    for j, tile in ipairs(tiles_) do
      if texts[j] then
        if tonumber(cursor) < tile[1] then raw('(' .. string.format('%d', tile[1])) end
        cursor = string.format('%d', tile[2])
        local partial = cmsgpack.unpack(texts[j])
        if merged then merge(merged, partial) else merged = partial end
      end
    end
  end
  raw(high(inclusive))
  if merged and ARGV[w + 2] == '1' then
    local seen = {}
    for c = 1, #merged do
      for _, at in ipairs({merged[c][2], merged[c][3]}) do
        if at and not seen[at] then
          seen[at] = true
          local score = string.format('%d', at)
          for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], score, score)) do
            candidates[#candidates + 1] = member
          end
        end
      end
    end
  end
  out[#out + 1] = {merged and text(merged) or '', edges, candidates}
end
return out
"""

# Per cutoff: the count, then the rows at the newest score <= cutoff. Beyond 2**53 µs a score is rounded, so the
# rows of the score below are returned too (ARGV[1] = '1') and the caller picks by exact timestamp.
LOOKUP = """
local out = {}
local function bucket(score)
  local rows = redis.call('ZRANGEBYSCORE', KEYS[1], score, score)
  for _, row in ipairs(rows) do out[#out + 1] = row end
  return #rows
end
for i = 2, #ARGV do
  local slot = #out + 1
  out[slot] = 0
  local top = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[i], '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if top[1] then
    local count = bucket(top[2])
    if ARGV[1] == '1' then
      local below = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. top[2], '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
      if below[1] then count = count + bucket(below[2]) end
    end
    out[slot] = count
  end
end
out[#out + 1] = redis.call('GET', KEYS[2]) or ''
return out
"""

# The events held: the sizes of the entity sets listed in the ``keys`` set.
HELD = """
local n = 0
for _, set in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do n = n + redis.call('ZCARD', set) end
return n
"""
