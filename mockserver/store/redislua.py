"""The Redis store's Lua scripts: each runs atomically in Redis, in one round trip.

Keys are built from the prefix given as ARGV[1] (see redisstore.py for the layout); the store is
meant for one Redis server (no cluster slots).
"""

# Shared by the scripts: append one record to the stream.
APPEND = """
local function append(p, tenant, raw)
  local seq = redis.call('INCR', p .. ':ev:seq')
  redis.call('HSET', p .. ':ev:data', seq, raw)
  redis.call('ZADD', p .. ':ev:all', seq, seq)
  if tenant ~= '' then redis.call('ZADD', p .. ':ev:t:' .. tenant, seq, seq) end
  return seq
end
local function set_due(p, tenant, id, due)
  local member = tenant .. '\\0' .. id
  if due == '' then
    redis.call('ZREM', p .. ':due', member)
  else
    local offsets = redis.call('HMGET', p .. ':clock', '', tenant)
    local offset = (tonumber(offsets[1]) or 0) + (tenant ~= '' and tonumber(offsets[2]) or 0)
    redis.call('ZADD', p .. ':due', tonumber(due) - offset, member)
  end
end
"""
# insert_messages: ARGV = prefix, now, real, the number of messages, the generation the request's
# cached reads came from ('' = none to check: else 'stale' when {p}:gen moved on), the tenant's
# byte budget and the batch's bytes ('full' when they would pass it), then 9 values per message:
# tenant, message_id, resend key ('' none), JSON, created_at, purge_at, due ('' none), record,
# purge member; then a tenant and a record per record to append after them (`also`).
SEND = APPEND + """
local FAILED = {target_invalid = true, sent_failed = true, delivered_failed = true}
local p, now, real, n = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
if ARGV[5] ~= '' and (redis.call('GET', p .. ':gen') or '0') ~= ARGV[5] then return {'stale'} end
local owner, adding = ARGV[8], tonumber(ARGV[7])
local used = tonumber(redis.call('HGET', p .. ':bytes', owner) or '0')
if used + adding > tonumber(ARGV[6]) then return {'full', used} end
local seen = {}
for i = 0, n - 1 do
  local b = 8 + i * 9
  local tenant, key = ARGV[b + 1], ARGV[b + 3]
  if key ~= '' then
    local slot = tenant .. '\\0' .. key
    if seen[slot] then return {'dup', seen[slot]} end
    seen[slot] = i
    local holder = redis.call('HGET', p .. ':t:' .. tenant .. ':act', key)
    if holder then
      local raw = redis.call('HGET', p .. ':t:' .. tenant .. ':msg', holder)
      if raw then
        local m = cjson.decode(raw)
        local verified = m.verified_at ~= nil and m.verified_at ~= cjson.null
        local expired = m.expires_at ~= nil and m.expires_at ~= cjson.null and now >= m.expires_at
        local last = m.lifecycle and m.lifecycle[#m.lifecycle]
        local failed = last and FAILED[last[1]]  -- a delivery that failed for good holds nothing
        if not verified and m.attempts < m.max_attempts and not expired and not failed then return {'block', raw} end
      end
    end
  end
end
for i = 0, n - 1 do
  local b = 8 + i * 9
  local tenant, id, key = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local t = p .. ':t:' .. tenant
  redis.call('HSET', t .. ':msg', id, ARGV[b + 4])
  redis.call('ZADD', t .. ':order', ARGV[b + 5], id)
  redis.call('SADD', p .. ':tenants', tenant)
  redis.call('ZADD', p .. ':touched', real, tenant)
  redis.call('ZADD', p .. ':purge', ARGV[b + 6], ARGV[b + 9])
  redis.call('HSET', p .. ':mid', id, tenant)
  if key ~= '' then redis.call('HSET', t .. ':act', key, id) end
  set_due(p, tenant, id, ARGV[b + 7])
  append(p, tenant, ARGV[b + 8])
end
redis.call('HINCRBY', p .. ':bytes', owner, adding)
for i = 9 + n * 9, #ARGV, 2 do append(p, ARGV[i], ARGV[i + 1]) end
return {'ok', redis.call('ZCARD', p .. ':purge')}
"""
# update_message: ARGV = prefix, tenant, message_id, JSON read, new JSON ('' unchanged), due, record
# (''), the generation to find ('' none, as SEND), then a tenant and a record per record to append
# after it (`also`).
CAS = APPEND + """
local p, tenant, id = ARGV[1], ARGV[2], ARGV[3]
if ARGV[8] ~= '' and (redis.call('GET', p .. ':gen') or '0') ~= ARGV[8] then return {'stale'} end
local current = redis.call('HGET', p .. ':t:' .. tenant .. ':msg', id)
if current ~= ARGV[4] then return {'conflict', current} end
if ARGV[5] ~= '' then redis.call('HSET', p .. ':t:' .. tenant .. ':msg', id, ARGV[5]) end
set_due(p, tenant, id, ARGV[6])
if ARGV[7] ~= '' then append(p, tenant, ARGV[7]) end
for i = 9, #ARGV, 2 do append(p, ARGV[i], ARGV[i + 1]) end
return {'ok'}
"""
# Drop one message; its resend key goes too unless a newer message holds it now.
DROP = """
local p, member = ARGV[1], ARGV[2]
local tenant, id, key, size = string.match(member, '^(.-)%z(.-)%z(.*)%z(%d+)$')
if not tenant then  -- a member written before sizes were counted
  tenant, id, key = string.match(member, '^(.-)%z(.-)%z(.*)$')
  size = '0'
end
local t = p .. ':t:' .. tenant
if key ~= '' and redis.call('HGET', t .. ':act', key) == id then redis.call('HDEL', t .. ':act', key) end
redis.call('HDEL', t .. ':msg', id)
redis.call('ZREM', t .. ':order', id)
redis.call('ZREM', p .. ':due', tenant .. '\\0' .. id)
if redis.call('HGET', p .. ':mid', id) == tenant then redis.call('HDEL', p .. ':mid', id) end
local removed = redis.call('ZREM', p .. ':purge', member)
if removed == 1 then redis.call('HINCRBY', p .. ':bytes', tenant, -tonumber(size)) end
return removed
"""
# Records past the retention go (at most ARGV[3] per call): ARGV = prefix, keep, batch.
TRIM = """
local p, keep, batch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local cut = tonumber(redis.call('GET', p .. ':ev:seq') or '0') - keep
if cut < 1 then return 0 end
local seqs = redis.call('ZRANGEBYSCORE', p .. ':ev:all', '-inf', cut, 'LIMIT', 0, batch)
for _, seq in ipairs(seqs) do
  local raw = redis.call('HGET', p .. ':ev:data', seq)
  if raw then
    local tenant = cjson.decode(raw)[2]
    if type(tenant) == 'string' then redis.call('ZREM', p .. ':ev:t:' .. tenant, seq) end
    redis.call('HDEL', p .. ':ev:data', seq)
  end
  redis.call('ZREM', p .. ':ev:all', seq)
end
return #seqs
"""
# claim_events: ARGV = prefix, consumer, limit, now, lease end.
CLAIM = """
local p, c, limit, now, lease_end = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local pend = p .. ':evc:' .. c .. ':pend'
local out = {}
for _, seq in ipairs(redis.call('ZRANGEBYSCORE', pend, '-inf', now, 'LIMIT', 0, limit)) do
  local raw = redis.call('HGET', p .. ':ev:data', seq)
  if raw then
    redis.call("ZADD", pend, lease_end, seq)
    table.insert(out, seq); table.insert(out, raw)
  else
    redis.call('ZREM', pend, seq)
  end
end
local cursor = redis.call('GET', p .. ':evc:' .. c) or '0'
local room = limit - #out / 2
if room > 0 then
  for _, seq in ipairs(redis.call('ZRANGEBYSCORE', p .. ':ev:all', '(' .. cursor, '+inf', 'LIMIT', 0, room)) do
    redis.call("ZADD", pend, lease_end, seq)
    redis.call('SET', p .. ':evc:' .. c, seq)
    table.insert(out, seq); table.insert(out, redis.call('HGET', p .. ':ev:data', seq))
  end
end
return out
"""
# Appending records (the journal): ARGV = prefix, then tenant ('' none) and record per record.
RECORD = APPEND + """
local out = {}
for i = 2, #ARGV, 2 do table.insert(out, append(ARGV[1], ARGV[i], ARGV[i + 1])) end
return out
"""
# add_deliveries: ARGV = prefix, the most kept, then 5 values per delivery: id, tenant ('' none),
# due ('' finished), status, JSON. New ids only; then over the cap the oldest finished go, then the
# adding keys' own oldest pending (never another key's); returns {added, pending dropped}.
ADD_DELIVERIES = """
local p, most = ARGV[1], tonumber(ARGV[2])
local added, tenants, anonymous, dropped = 0, {}, {}, 0
for i = 3, #ARGV, 5 do
  local id, tenant, due, raw = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 4]
  if tenant ~= '' then tenants[tenant] = true end
  if redis.call('HSETNX', p .. ':dl:data', id, raw) == 1 then
    if tenant == '' then anonymous[#anonymous + 1] = id end
    local n = redis.call('INCR', p .. ':dl:n')
    redis.call('ZADD', p .. ':dl:order', n, id)
    if tenant ~= '' then redis.call('ZADD', p .. ':dl:t:' .. tenant, n, id) end
    if due ~= '' then redis.call('ZADD', p .. ':dl:due', tonumber(due), id)
    else redis.call('ZADD', p .. ':dl:done', n, id) end
    added = added + 1
  end
end
local excess = redis.call('ZCARD', p .. ':dl:order') - most
while excess > 0 do
  -- the oldest finished first, then the adding keys' own oldest pending, never another key's
  local victim = redis.call('ZRANGE', p .. ':dl:done', 0, 0)[1]
  if not victim then
    local best = nil
    for tenant, _ in pairs(tenants) do
      local oldest = redis.call('ZRANGE', p .. ':dl:t:' .. tenant, 0, 0, 'WITHSCORES')
      if oldest[1] and (best == nil or tonumber(oldest[2]) < best[2]) then best = {oldest[1], tonumber(oldest[2])} end
    end
    if best then victim = best[1] else victim = table.remove(anonymous) end
    if not victim then break end
    dropped = dropped + 1
  end
  local raw = redis.call('HGET', p .. ':dl:data', victim)
  if raw then
    local tenant = cjson.decode(raw).tenant
    if type(tenant) == 'string' then redis.call('ZREM', p .. ':dl:t:' .. tenant, victim) end
  end
  redis.call('HDEL', p .. ':dl:data', victim)
  redis.call('ZREM', p .. ':dl:order', victim)
  redis.call('ZREM', p .. ':dl:done', victim)
  redis.call('ZREM', p .. ':dl:due', victim)
  excess = excess - 1
end
return {added, dropped}
"""
# update_delivery: ARGV = prefix, id, JSON read, new JSON, due ('' finished).
DELIVERY_CAS = """
local p, id = ARGV[1], ARGV[2]
local current = redis.call('HGET', p .. ':dl:data', id)
if current ~= ARGV[3] then return {'conflict', current} end
redis.call('HSET', p .. ':dl:data', id, ARGV[4])
if ARGV[5] == '' then
  redis.call('ZREM', p .. ':dl:due', id)
  redis.call('ZADD', p .. ':dl:done', redis.call('ZSCORE', p .. ':dl:order', id) or 0, id)
else
  redis.call('ZADD', p .. ':dl:due', tonumber(ARGV[5]), id)
  redis.call('ZREM', p .. ':dl:done', id)
end
return {'ok'}
"""
