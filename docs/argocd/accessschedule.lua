-- Argo CD health of a signet.dev AccessSchedule, from its Ready and Active conditions.
-- Healthy: a valid schedule, whether a window is open or not (the message says which).
-- Degraded: Ready=False (e.g. an unknown time zone). Progressing: not yet observed.
local hs = {}
if obj.status == nil or obj.status.observedGeneration == nil
    or (obj.metadata.generation ~= nil and obj.status.observedGeneration < obj.metadata.generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for Signet to observe the latest spec"
  return hs
end

local ready, active = nil, nil
for _, c in ipairs(obj.status.conditions or {}) do
  if c.type == "Ready" then ready = c end
  if c.type == "Active" then active = c end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if ready.status ~= "True" then
  hs.status = "Degraded"
  hs.message = (ready.reason or "") .. ": " .. (ready.message or "")
  return hs
end
hs.status = "Healthy"
if obj.status.active then
  hs.message = "Open until " .. (obj.status.currentWindowEnd or "further notice")
else
  hs.message = "Closed; next window " .. (obj.status.nextWindowStart or "none scheduled")
end
if active ~= nil and active.message ~= nil then
  hs.message = hs.message .. ": " .. active.message
end
return hs
