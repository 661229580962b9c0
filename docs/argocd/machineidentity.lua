-- Argo CD health of a signet.dev MachineIdentity, from its status conditions.
-- Healthy: Ready. Suspended: revoked on purpose (spec.suspend, or outside its schedule's windows).
-- Progressing: not yet observed, or being issued. Degraded: Ready=False for any other reason.
local hs = {}
local function condition(obj, type)
  if obj.status == nil or obj.status.conditions == nil then return nil end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == type then return c end
  end
  return nil
end

if obj.status == nil or obj.status.observedGeneration == nil
    or (obj.metadata.generation ~= nil and obj.status.observedGeneration < obj.metadata.generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for Signet to observe the latest spec"
  return hs
end

local ready = condition(obj, "Ready")
local suspended = condition(obj, "Suspended")
if suspended ~= nil and suspended.status == "True" then
  hs.status = "Suspended"
  hs.message = suspended.message or "spec.suspend is true"
  return hs
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Certificate issued"
  return hs
end
if ready.reason == "OutsideWindow" or ready.reason == "Suspended" then
  hs.status = "Suspended"
elseif condition(obj, "Issuing") ~= nil and condition(obj, "Issuing").status == "True" then
  hs.status = "Progressing"
else
  hs.status = "Degraded"
end
hs.message = (ready.reason or "") .. ": " .. (ready.message or "")
return hs
