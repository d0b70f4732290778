request = function()
  return wrk.format("GET", "/api/user", { ["Authorization"] = "Bearer " .. next_item() })
end
