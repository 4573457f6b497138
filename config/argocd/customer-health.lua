-- Argo CD health check for crm.tiquo.co/v1alpha1 Customer (tiquo-operator).
-- config/argocd/argocd-cm-patch.yaml embeds this script verbatim; change both together.
--
--   Suspended   spec.suspend is true.
--   Degraded    Stalled=True for the current generation: the operator cannot make progress
--               until the spec, the API key Secret or the Tiquo record changes (NotFound,
--               AdoptionRefused, DeletionBlocked, ...).
--   Healthy     Ready=True for the current generation, and status.observedGeneration has
--               caught up with metadata.generation; or, under managementPolicy Observe,
--               Ready=False with reason Drifted (pending changes are information).
--   Progressing anything else: no status yet, a spec the operator has not yet observed, a
--               rate limit or API outage the operator is waiting out, or a create whose
--               outcome it does not know yet (Creating).
-- Argo CD itself shows a Customer being deleted (metadata.deletionTimestamp set) as
-- Progressing, "Pending deletion", without running this script.
local hs = {}

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Syncing with Tiquo is suspended (spec.suspend is true)"
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status ~= nil and obj.status.observedGeneration == generation
local ready = nil
local stalled = nil
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    elseif condition.type == "Stalled" then
      stalled = condition
    end
  end
end

local function current(condition)
  return condition ~= nil and condition.observedGeneration == generation
end

local function describe(condition)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return condition.reason or ""
end

if observed and current(stalled) and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  if hs.message == "" and ready ~= nil then
    hs.message = describe(ready)
  end
  return hs
end

if observed and current(ready) and (ready.status == "True" or ready.reason == "Drifted") then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
if current(ready) then
  hs.message = describe(ready)
else
  hs.message = "Waiting for the operator to reconcile generation " .. tostring(generation)
end
return hs
