-- Argo CD health for fledge.dev/AnalysisRun (argocd-cm: resource.customizations.health.fledge.dev_AnalysisRun).
hs = {}
local phase = obj.status ~= nil and obj.status.phase or nil
if phase == "Successful" then
  hs.status = "Healthy"
elseif phase == "Failed" or phase == "Error" then
  hs.status = "Degraded"
elseif phase == "Inconclusive" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
end
hs.message = (obj.status ~= nil and obj.status.message) or ""
return hs
