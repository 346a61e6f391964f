-- Argo CD health check for sync.checkpointed.io/SyncJob.
--
-- It reads only what the Checkpointed controller and runner report: status.observedGeneration,
-- the conditions Stalled, Reconciling, Ready and Drifted, status.lastRun.phase, and
-- spec.suspend. First match wins:
--   no status yet, or observedGeneration behind metadata.generation  -> Progressing
--   Stalled=True (the spec cannot be acted on)                       -> Degraded
--   Reconciling=True (owned objects being fixed, a request waits)    -> Progressing
--   no Ready condition yet                                           -> Progressing
--   Drifted=True, or Ready reason DriftDetected                      -> Degraded
--   last run Failed or Interrupted                                   -> Degraded
--   last run PartiallySucceeded (Ready reason PartiallyFailed)       -> Degraded: some
--     records did not land in the sink, even though the run finished
--   Ready reason Stale (two scheduled runs missed)                   -> Degraded
--   Ready=False for any other reason                                 -> Degraded
--   Ready=Unknown                                                    -> Progressing
--   spec.suspend: true                                               -> Suspended
--   Ready=True                                                       -> Healthy
-- A failure outranks a suspension: requested runs still happen while suspended, and
-- their failures must show.
--
-- It uses the base and table libraries only, so it runs in Argo CD's default sandbox
-- (resource.customizations.useOpenLibs is not needed).

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

local function messageOf(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

local function runFailure(run)
  local msg = "run " .. (run.runId or "?") .. " " .. run.phase
  if run.reason ~= nil and run.reason ~= "" then
    msg = msg .. ": " .. run.reason
  end
  if run.message ~= nil and run.message ~= "" then
    msg = msg .. ": " .. run.message
  end
  return msg
end

local function health(sj)
  local status = sj.status
  if status == nil or status.observedGeneration == nil then
    return "Progressing", "Waiting for the controller to report the SyncJob's status"
  end
  local generation = sj.metadata.generation
  if generation ~= nil and status.observedGeneration < generation then
    return "Progressing", "Waiting for the controller to observe generation " .. generation ..
      " (status is for generation " .. status.observedGeneration .. ")"
  end

  local conditions = status.conditions
  local stalled = findCondition(conditions, "Stalled")
  if isTrue(stalled) then
    return "Degraded", messageOf(stalled, "Stalled: " .. (stalled.reason or ""))
  end
  local reconciling = findCondition(conditions, "Reconciling")
  if isTrue(reconciling) then
    return "Progressing", messageOf(reconciling, "Reconciling")
  end
  local ready = findCondition(conditions, "Ready")
  if ready == nil then
    return "Progressing", "Waiting for the Ready condition"
  end

  local drifted = findCondition(conditions, "Drifted")
  if isTrue(drifted) then
    return "Degraded", messageOf(drifted, "The drift check found a difference between source and sink")
  end
  if ready.reason == "DriftDetected" then
    return "Degraded", messageOf(ready, "The drift check found a difference between source and sink")
  end

  local last = status.lastRun
  if last ~= nil and (last.phase == "Failed" or last.phase == "Interrupted") then
    if ready.reason == "RunFailed" then
      return "Degraded", messageOf(ready, runFailure(last))
    end
    return "Degraded", runFailure(last)
  end
  if last ~= nil and last.phase == "PartiallySucceeded" then
    return "Degraded", "run " .. (last.runId or "?") .. " finished with " .. (last.failed or 0) ..
      " failed records (not written to the sink)"
  end
  if ready.reason == "PartiallyFailed" then
    return "Degraded", messageOf(ready, "The last run finished with failed records")
  end
  if ready.reason == "Stale" then
    return "Degraded", messageOf(ready, "No successful run within two scheduled runs")
  end
  if ready.status == "False" then
    return "Degraded", messageOf(ready, "Not ready: " .. (ready.reason or ""))
  end
  if ready.status ~= "True" then
    return "Progressing", messageOf(ready, "Waiting for the Ready condition")
  end

  if sj.spec ~= nil and sj.spec.suspend == true then
    return "Suspended", "Scheduled runs are suspended (spec.suspend); requested runs still happen"
  end
  if last ~= nil and last.phase == "Running" then
    return "Healthy", "run " .. (last.runId or "?") .. " is running"
  end
  return "Healthy", messageOf(ready, "Ready")
end

local hs = {}
hs.status, hs.message = health(obj)
return hs
