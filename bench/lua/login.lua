-- The password grant of the first-party client (gancio-api.md §3.2); argon2 is slow by design.
request = function()
  return wrk.format("POST", "/oauth/login", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=password&client_id=self&" .. next_item())
end
