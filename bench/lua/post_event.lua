-- A new event per request, with a token of scope event:write; the tokens rotate so that no token
-- passes the 300-per-5-minutes limit of the "token-event" rule during a run.
request = function()
  sent = sent + 1
  local body = string.format(
    '{"title": "Bench post %d-%d", "start_datetime": %d, "end_datetime": %d, "place_id": %d, '
      .. '"tags": ["bench", "post%d"], "description": "<p>Posted by the <b>benchmark</b>.</p>"}',
    tid, sent, now + 86400 * 90 + sent, now + 86400 * 90 + sent + 3600, 1 + (sent % 500), sent % 50)
  return wrk.format("POST", "/api/event", {
    ["Authorization"] = "Bearer " .. next_item(),
    ["Content-Type"] = "application/json",
  }, body)
end
