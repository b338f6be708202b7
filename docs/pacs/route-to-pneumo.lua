-- Orthanc routing rule: every CR or DX film that arrives is sent to pneumo-dicom (modality "pneumo").
-- pneumo's results come back as SR and secondary capture (modalities SR and OT): they are not
-- routed again, so a study does not loop through the node.
function OnStoredInstance(instanceId, tags, metadata, origin)
  local modality = tags["Modality"]
  if (modality == "CR" or modality == "DX") and origin["RequestOrigin"] ~= "Lua" then
    SendToModality(instanceId, "pneumo")
  end
end
