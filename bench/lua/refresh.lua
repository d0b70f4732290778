-- One fresh refresh token per request (the seed made enough for the run); the client authenticates
-- with client_secret_post (its id and secret come as the script's 4th and 5th arguments).
local credentials = nil
request = function()
  if credentials == nil then
    credentials = string.format("&client_id=%s&client_secret=%s", client_id, client_secret)
  end
  return wrk.format("POST", "/oauth/token", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&refresh_token=" .. next_item() .. credentials)
end
