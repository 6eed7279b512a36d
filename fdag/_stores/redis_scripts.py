"""The Lua scripts of ``RedisStore``: ingest (events, ids, tiles, bounds, eviction), lookup queries, held events.

Each runs atomically on the server: nothing else runs between its commands. A script's writes are not rolled back
when it fails part-way, so everything that can fail is checked before the first write (a key it would read or write
holding the wrong type, e.g. another program's key in the namespace), and the writes are ordered so that a failure
at any point leaves a re-send of the batch correct: events first (re-adding a member is a no-op), then the
registrations of open tiles (idempotent), then the ids that mark the events applied, then the sealed tiles they
update, then the bounds, then the watermark, then sealing, then eviction. A re-sent event whose id is held at its
own timestamp moves the bounds and the watermark, is evicted from as if applied now, has its sealed tiles rebuilt
from what they cover and its open ones registered again: a no-op when the earlier run finished (a tile is a
function of the events it covers), the repair when it failed before them. Sealing follows the watermark, so a tile
exists only once the stored watermark has passed its end, and an event in a tile past it never has a tile to
update. The bounds precede the watermark: a state that failed between them refuses more past queries, not fewer.

Tiles (``redis_tiles``): per entity key, a hash ``t:<key>`` of ``level:start`` -> the tile's partial states
(MessagePack), a sorted set ``i:<key>`` of those fields scored by start, for eviction, and per layout a sorted
set ``open`` of the dense tiles not sealed yet (``level:start:<events key>``) scored by their end. The hash's
field ``finest`` records the finest level ever sealed for the key: a window query covers from that level (a
tile it skips is read raw instead: the field only saves work, whatever it says). Float sums
are kept exactly, as expansions of non-overlapping doubles (Shewchuk), written in the one canonical form (each
component the correctly rounded value of what the ones before leave), so a tile's bytes depend only on the
events it covers.
"""

from __future__ import annotations

from fdag._stores.redis_tile_lua import TILE_FUNCTIONS

# Ingest: KEYS = wm, ids, keys, seq, bounds, then one event set per entity key. ARGV = retention, the watermark to
# assume ('' : the stored one), with ids ('1'/'0'; '2': with ids, and a later part of the same batch follows, which
# forgets the ids below the horizon: until then they count as duplicates, as in one call), quiet keys to delete at
# most, the newest timestamp a bootstrap skipped (''), the tile layout ('' : no tiles; see
# ``redis_tiles.TilePlan.config``), per event its entity's position in KEYS and the length of its encoded event (4
# bytes each, little-endian), the encoded events one after the other (``redis_codec``: each begins with its
# timestamp, µs as a decimal integer, read from it as the text the client would have sent), then with ids each
# event's id. Packed so: two arguments for the batch instead of three
# per event, which redis-py and the server each parse one by one.
INGEST = TILE_FUNCTIONS + """
local function zadd(key, pairs_, gt)  -- (gt: only raise scores)
  for s = 1, #pairs_, 4000 do
    local last = math.min(s + 3999, #pairs_)
    if gt then redis.call('ZADD', key, 'GT', unpack(pairs_, s, last))
    else redis.call('ZADD', key, unpack(pairs_, s, last)) end
  end
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
local OPEN, has_tiles = P .. 'open', {}  -- the registered open tiles; the keys that have tiles
local function wrong(name, want)
  local kind = redis.call('TYPE', name)['ok']
  if kind ~= 'none' and kind ~= want then
    return redis.error_reply('WRONGTYPE key ' .. name .. ' holds a ' .. kind .. ', not a ' .. want ..
      ' (nothing was written)')
  end
  return kind == 'none'
end
for k = 1, 5 do
  local failed = wrong(KEYS[k], (k == 1 or k == 4) and 'string' or (k == 5 and 'hash' or 'zset'))
  if type(failed) == 'table' then return failed end
end
if tiles then
  local failed = wrong(OPEN, 'zset')
  if type(failed) == 'table' then return failed end
end
-- An events set's size is its type check too (ZCARD fails on another type) and bounds what its tiles can cover.
local sizes = {}
for k = 6, #KEYS do
  local size = redis.pcall('ZCARD', KEYS[k])
  if type(size) == 'table' then return wrong(KEYS[k], 'zset') end
  sizes[k] = size
end
local decode, null = cjson.decode, cjson.null
local function absorb(tile, member)  -- (its timestamp: the row's first value, read as the text it is)
  local ok, row = pcall(decode, '[' .. member .. ']')
  local ts = ok and row[1]
  if not (ok and abs(ts) < BIG) then
    for c = 1, #COLS do tile[c][6] = 1 end
    return
  end
  for c = 1, #COLS do
    local col, p = COLS[c], tile[c]
    local v = row[col.at]
    if v ~= nil and v ~= null then
      p[1] = p[1] + 1
      if not p[2] or ts < p[2] then p[2] = ts end
      if not p[3] or ts > p[3] then p[3] = ts end
      if col.num and p[6] == 0 then
        if col.kind == 'b' then
          if v == true then v = 1 elseif v == false then v = 0 else v = nil end
        elseif type(v) ~= 'number' or v - v ~= 0 then
          v = nil
        elseif col.kind == 'i' and (v ~= math.floor(v) or abs(v) >= BIG) then
          v = nil
        end
        local a = v and col.q and abs(v)
        if v == nil or (a and (a > 2^500 or (a ~= 0 and a < 2^-480))) then p[6] = 1 else
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
local before, horizon = top, top - retention
local bounds = redis.call('HMGET', KEYS[5], 'oldest', 'dropped')
local oldest_text, dropped_text, bounds_moved = bounds[1], bounds[2], false
local oldest = oldest_text and tonumber(oldest_text) or math.huge
local dropped = dropped_text and tonumber(dropped_text) or -math.huge
if ARGV[5] ~= '' and tonumber(ARGV[5]) > dropped then
  dropped = tonumber(ARGV[5]); dropped_text = ARGV[5]; bounds_moved = true
end
local with_ids = ARGV[3] ~= '0'
local n = #ARGV[7] / 8
local BODY = ARGV[8]
local held, seq = {}, 0
if with_ids then
  local ids = {}
  for e = 1, n do ids[e] = ARGV[e + 8] end
  for s = 1, n, 4000 do
    local scores = redis.call('ZMSCORE', KEYS[2], unpack(ids, s, math.min(s + 3999, n)))
    for j = 1, #scores do held[s + j - 1] = scores[j] end
  end
elseif n > 0 then
  seq = tonumber(redis.call('GET', KEYS[4]) or '0')  -- taken (INCRBY) with the writes, after the last check
end
local fresh, new_ids, newest, newest_text, redo = {}, {}, {}, {}, {}
local event_key, event_ts, event_member, count = {}, {}, {}, {}  -- the accepted events; per key, how many
local fresh_low = {}  -- per key whose set was empty, its oldest accepted event: all it will hold
local accepted, duplicates, late, at = 0, 0, 0, 1
local PACKED, byte, sub, find = ARGV[7], string.byte, string.sub, string.find  -- (locals: read once per event)
for e = 1, n do
  local a, b, c, d, a2, b2, c2, d2 = byte(PACKED, 8 * e - 7, 8 * e)
  local k = a + 256 * (b + 256 * (c + 256 * d))
  local stop = at + a2 + 256 * (b2 + 256 * (c2 + 256 * d2))
  local id, member = ARGV[e + 8], sub(BODY, at, stop - 1)
  at = stop
  local ts_text = sub(member, 1, (find(member, ',', 1, true) or 0) - 1)
  local ts = tonumber(ts_text)
  if with_ids and (held[e] or fresh[id]) then
    duplicates = duplicates + 1
    if held[e] and tonumber(held[e]) == ts and not fresh[id] then
      if ts > top then top = ts; top_text = ts_text; horizon = ts - retention end
      if ts < oldest then oldest = ts; oldest_text = ts_text; bounds_moved = true end
      if not newest[k] or ts > newest[k] then newest[k] = ts; newest_text[k] = ts_text end
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
    if with_ids then
      fresh[id] = true
      new_ids[2 * accepted + 1], new_ids[2 * accepted + 2] = ts_text, id
    else
      member = member .. ',' .. string.format('%d', seq + e)
    end
    accepted = accepted + 1
    event_key[accepted], event_ts[accepted], event_member[accepted] = k, ts_text, member
    count[k] = (count[k] or 0) + 1
    if not newest[k] or ts > newest[k] then newest[k] = ts; newest_text[k] = ts_text end
    if sizes[k] == 0 and not (fresh_low[k] and fresh_low[k] <= ts) then fresh_low[k] = ts end
  end
end
-- The tile keys of the keys that may be dense: a tile covers DENSE held events (they leave only with it), so a
-- key whose set and batch hold fewer has no tiles and gets none; its tile keys are neither read nor written.
local maybe_dense = {}
for k in pairs(tiles and newest or {}) do
  if sizes[k] + (count[k] or 0) >= DENSE then
    local hash, index = tile_keys(KEYS[k])
    local failed = wrong(hash, 'hash')
    if type(failed) == 'table' then return failed end
    has_tiles[k], maybe_dense[k] = not failed, true
    failed = has_tiles[k] and wrong(index, 'zset')  -- (no tile hash: its index is checked where it is written)
    if type(failed) == 'table' then return failed end
  end
end
if not with_ids and n > 0 then redis.call('INCRBY', KEYS[4], n) end
-- Tiles (``redis_tiles``): a tile exists once sealed, and then covers every held event in its range. A tile whose
-- end is past the watermark is open: no query reads it yet, so an event in it costs nothing until its range holds
-- DENSE events, when it is registered (in OPEN, scored by its end) for sealing; once the watermark passes its end
-- it is sealed from the tiles one level finer (raw events where one is missing). An event in a closed tile (late,
-- or a bootstrap's history) updates the tile if it exists, else registers it if its range is dense. A range
-- below DENSE holds no denser finer range, so counting goes coarse to fine and stops there. Nothing is kept
-- below the horizon (no query reads it, and its events are evicted).
local function tile_name(l, s) return (l - 1) .. ':' .. string.format('%d', s) end
local function until_(s, l) return '(' .. string.format('%d', s + W[l]) end
-- The events, per key: a key with one (most, where keys are sparse) adds it alone, without a list.
local added = {}  -- per key with more, or that may be dense, its events' timestamps and members
for j = 1, accepted do
  local k = event_key[j]
  if count[k] == 1 and not maybe_dense[k] then redis.call('ZADD', KEYS[k], event_ts[j], event_member[j]) else
    local list_ = added[k]
    if not list_ then list_ = {}; added[k] = list_ end
    list_[#list_ + 1] = event_ts[j]
    list_[#list_ + 1] = event_member[j]
  end
end
for k, list_ in pairs(added) do zadd(KEYS[k], list_) end
-- Per key that may be dense, the tiles its batch touches, coarse to fine, one level at a time across keys: a tile
-- is dense if it exists (sealed), is registered, or else if ZCOUNT says so (then it is registered). A range below
-- DENSE holds no dense finer range (nor a tile: it covers DENSE held events), so its events stop there: they make
-- its delta, and no finer tile of theirs is built, read or counted.
local register, touched, groups = {}, {}, {}  -- groups: per key, the dense ranges of the level above and their items
for k in pairs(maybe_dense) do
  -- Every tile the batch touches lies within a coarsest width of its events: where that neighbourhood holds
  -- fewer than DENSE events, none is dense, and a key without tiles has nothing else to do.
  local lo, hi, list_, items = math.huge, -math.huge, added[k] or {}, {}  -- {ts, member}, {ts, false} if re-sent
  for j = 1, #list_, 2 do
    local ts = tonumber(list_[j])
    if ts < lo then lo = ts end
    if ts > hi then hi = ts end
    items[#items + 1] = {ts, list_[j + 1]}
  end
  for _, ts in ipairs(redo[k] or {}) do
    lo = math.min(lo, ts); hi = math.max(hi, ts); items[#items + 1] = {ts, false}
  end
  if has_tiles[k] or redis.call('ZCOUNT', KEYS[k], '(' .. string.format('%d', lo - W[#W]),
                                '(' .. string.format('%d', hi + W[#W])) >= DENSE then
    touched[k] = {F = phase(KEYS[k], W[#W]), slots = {}}  -- slots: the key's tiles touched, coarse levels first
    groups[k] = {{items = items}}
  end
end
local floor = math.floor
for l = #W, 1, -1 do
  local width, candidates, members = W[l], {}, {}
  for k, above in pairs(groups) do
    local key, level, closed = touched[k], {}, {}
    local F, slots = key.F, key.slots
    for _, parent in ipairs(above) do
      for _, item in ipairs(parent.items) do
        local s = floor((item[1] - F) / width) * width + F
        local here = level[s]
        if not here then
          if s < horizon then here = {items = {}}  -- no tile below the horizon: its items go on finer, parentless
          else
            here = {l = l, s = s, name = tile_name(l, s), items = {}, children = {}}
            slots[#slots + 1] = here
            if s + width <= before then closed[#closed + 1] = here end
            if parent.l then parent.children[here] = true end  -- (tiles nest: all its items have this parent)
          end
          level[s] = here
        end
        local list_ = here.items
        list_[#list_ + 1] = item
        if not item[2] then here.redo = true end
      end
    end
    if has_tiles[k] and #closed > 0 then
      local names = {}
      for j, here in ipairs(closed) do names[j] = here.name end
      for j, text in ipairs(chunked('HMGET', tile_keys(KEYS[k]), names)) do
        if text then closed[j].stored = text; closed[j].dense = true end
      end
    end
    for _, here in pairs(level) do
      if here.l and not here.stored then
        candidates[#candidates + 1] = {k, here}
        members[#members + 1] = here.name .. ':' .. KEYS[k]
      end
    end
    groups[k] = level
  end
  -- Which are registered already (one read for the level), and which of the others are dense.
  for j, score in ipairs(#members > 0 and chunked('ZMSCORE', OPEN, members) or {}) do
    local k, here = candidates[j][1], candidates[j][2]
    if score then here.dense = true
    elseif redis.call('ZCOUNT', KEYS[k], here.s, until_(here.s, l)) >= DENSE then
      here.dense = true
      register[members[j]] = here.s + width
    end
  end
  for k, level in pairs(groups) do
    local above = {}
    for _, here in pairs(level) do if here.dense or not here.l then above[#above + 1] = here end end
    groups[k] = above
  end
end
-- Builds tile (l, s) of an events key from the tiles one level finer (raw events where one is missing).
local function build(events, hash, l, s)
  local tile, below = empty(#COLS), {}
  if l > 1 then
    local starts, names_ = {}, {}
    for c = s, s + W[l] - W[l - 1], W[l - 1] do starts[#starts + 1] = c; names_[#names_ + 1] = tile_name(l - 1, c) end
    local found = chunked('HMGET', hash, names_)
    for j, c in ipairs(starts) do  -- adjacent missing tiles are read as one range
      if found[j] then merge(tile, cmsgpack.unpack(found[j]))
      elseif #below > 0 and below[#below][2] == c then below[#below][2] = c + W[l - 1]
      else below[#below + 1] = {c, c + W[l - 1]} end
    end
  else
    below[1] = {s, s + W[1]}
  end
  for _, range in ipairs(below) do
    local members = redis.call('ZRANGEBYSCORE', events, range[1], '(' .. string.format('%d', range[2]))
    for _, member in ipairs(members) do absorb(tile, member) end
  end
  return tile
end
-- The batch's partial states in a closed tile: its finer tiles' where they were placed, else (the finest level,
-- or a range below DENSE) its events.
local function delta(here)
  if not here.delta then
    local tile = empty(#COLS)
    if next(here.children) == nil then
      for _, item in ipairs(here.items) do if item[2] then absorb(tile, item[2]) end end
    else
      for child in pairs(here.children) do merge(tile, delta(child)) end
    end
    here.delta = tile
  end
  return here.delta
end
local opened = {}
for member, ends in pairs(register) do opened[#opened + 1] = string.format('%d', ends); opened[#opened + 1] = member end
if #opened > 0 then zadd(OPEN, opened) end
local latest = {}
for k, text in pairs(newest_text) do latest[#latest + 1] = text; latest[#latest + 1] = KEYS[k] end
if #latest > 0 then zadd(KEYS[3], latest, true) end
if #new_ids > 0 then zadd(KEYS[2], new_ids) end
-- Closed tiles that exist, finer first: a re-sent event's are rebuilt (the repair of a batch that failed
-- part-way; a no-op otherwise), the others updated with the batch's events.
for k, key in pairs(touched) do
  local hash = tile_keys(KEYS[k])
  for j = #key.slots, 1, -1 do
    local here = key.slots[j]
    if here.stored then
      local tile
      if here.redo then tile = build(KEYS[k], hash, here.l, here.s)
      else tile = cmsgpack.unpack(here.stored); merge(tile, delta(here)) end
      redis.call('HSET', hash, here.name, pack(tile))
    end
  end
end
if bounds_moved then redis.call('HSET', KEYS[5], 'oldest', oldest_text or '', 'dropped', dropped_text or '') end
if top ~= stored then redis.call('SET', KEYS[1], top_text) end
-- Seal the registered tiles the watermark has passed (bounded per batch; the rest wait for the next one), finer
-- first: a tile ends where its last finer tile ends, and members of equal end sort by level.
if tiles and top > -math.huge then
  local finest = {}  -- per tile hash, the finest level sealed (its field 'finest': queries cover from there)
  local due = redis.call('ZRANGEBYSCORE', OPEN, '-inf', string.format('%d', top), 'LIMIT', 0, 64 + n)
  for _, member in ipairs(due) do
    local level, start, events = string.match(member, '^(%d+):(-?%d+):(.*)$')
    local l, s = tonumber(level) + 1, tonumber(start)
    if s >= horizon then
      local ok, count = pcall(redis.call, 'ZCOUNT', events, s, until_(s, l))
      local hash, index = tile_keys(events)
      if ok and count >= DENSE then  -- (another program's key in the way of the tiles: not sealed)
        local kinds = {redis.call('TYPE', hash)['ok'], redis.call('TYPE', index)['ok']}
        if (kinds[1] == 'none' or kinds[1] == 'hash') and (kinds[2] == 'none' or kinds[2] == 'zset') then
          redis.call('ZADD', index, string.format('%d', s), tile_name(l, s))
          redis.call('HSET', hash, tile_name(l, s), pack(build(events, hash, l, s)))
          local known = finest[hash] or tonumber(redis.call('HGET', hash, 'finest') or #W)
          if l - 1 < known then redis.call('HSET', hash, 'finest', l - 1); known = l - 1 end
          finest[hash] = known
        end
      end
    end
  end
  if #due > 0 then chunked('ZREM', OPEN, due) end
end
if top > -math.huge then
  local cut = '(' .. string.format('%.17g', horizon)
  for k in pairs(newest) do
    -- Tiles below the horizon are never read; they go with the events they covered. A set that was empty holds
    -- only the batch's events: nothing to evict when they all are at or past the horizon (a new key, a bootstrap).
    local kept = fresh_low[k] and fresh_low[k] >= horizon
    if not kept and redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', cut) > 0 and has_tiles[k] then
      local hash, index = tile_keys(KEYS[k])
      local old = redis.call('ZRANGEBYSCORE', index, '-inf', cut)
      if #old > 0 then
        chunked('HDEL', hash, old)
        redis.call('ZREMRANGEBYSCORE', index, '-inf', cut)
        if redis.call('EXISTS', index) == 0 then redis.call('DEL', hash) end  -- no tile left: nor the 'finest'
      end
    end
  end
  if ARGV[3] == '1' then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cut) end
  if tiles then redis.call('ZREMRANGEBYSCORE', OPEN, '-inf', cut) end
  local quiet = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cut, 'LIMIT', 0, tonumber(ARGV[4]))
  for _, name in ipairs(quiet) do
    if tiles then redis.call('DEL', name, tile_keys(name)) else redis.call('DEL', name) end
    redis.call('ZREM', KEYS[3], name)
  end
end
return {accepted, duplicates, late}
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
