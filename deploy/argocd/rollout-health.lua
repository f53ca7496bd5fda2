-- Argo CD health for fledge.dev/Rollout (argocd-cm: resource.customizations.health.fledge.dev_Rollout).
-- Only a status the controller wrote for the current generation counts; a paused canary is Suspended,
-- an aborted one (or one past its progress deadline) Degraded with the controller's reason.
hs = {}
if obj.status == nil or obj.status.observedGeneration == nil or obj.metadata.generation ~= obj.status.observedGeneration then
  hs.status = "Progressing"
  hs.message = "Waiting for the Fledge controller to observe the latest spec"
  return hs
end
local phase = obj.status.phase
if phase == "Healthy" then
  hs.status = "Healthy"
elseif phase == "Degraded" then
  hs.status = "Degraded"
elseif phase == "Paused" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
end
hs.message = obj.status.message or ""
return hs
