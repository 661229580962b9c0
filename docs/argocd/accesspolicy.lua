-- Argo CD health of a signet.dev AccessPolicy, from status.active and the Ready condition.
-- Healthy: the access is granted and its NetworkPolicies are in place. Suspended: the access is
-- closed on purpose (spec.suspend, a suspended target or sources, or outside its schedule's
-- windows). Progressing: not yet observed, or NetworkPolicies still being written. Degraded: Ready=False (e.g. schedule not found).
local hs = {}
if obj.status == nil or obj.status.observedGeneration == nil
    or (obj.metadata.generation ~= nil and obj.status.observedGeneration < obj.metadata.generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for Signet to observe the latest spec"
  return hs
end

local ready = nil
for _, c in ipairs(obj.status.conditions or {}) do
  if c.type == "Ready" then ready = c end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if ready.status ~= "True" then
  if ready.reason == "NetworkPoliciesPending" then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = (ready.reason or "") .. ": " .. (ready.message or "")
  return hs
end
if obj.status.active then
  hs.status = "Healthy"
else
  hs.status = "Suspended"
end
hs.message = obj.status.reason or ready.message or ""
if obj.status.nextTransition ~= nil then
  hs.message = hs.message .. " (next change " .. obj.status.nextTransition .. ")"
end
return hs
