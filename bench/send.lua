-- POST /v1/messages with Basic auth; each wrk thread walks its own recipients of the
-- +44 7700 900 fictional range, so the mock's 3004 rule rarely fires within a run.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic YmVuY2g6YmVuY2g="
local counter = 0
local thread_id = 0
function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end
function request()
  counter = counter + 1
  local number = string.format("+4477009%02d%05d", id or 0, counter % 100000)
  local body = string.format('{"to": "%s", "template": {"id": "sms-default"}}', number)
  return wrk.format(nil, nil, nil, body)
end
