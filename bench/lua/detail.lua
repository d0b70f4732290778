request = function()
  return wrk.format("GET", "/api/event/detail/" .. next_item())
end
