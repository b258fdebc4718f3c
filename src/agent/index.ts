/**
 * @module The host agent: joins with a one-time token, pulls its host's desired state, installs the
 * release (through an Installer), supervises processes, runs tasks, reports health and metrics.
 * Dependency-light on purpose (node built-ins only): it must not load the control plane's stack.
 */
export { Agent, type AgentOptions } from './agent.ts';
export {
  AptInstaller,
  type AptInstallerOptions,
  aptFailureMessage,
  checkChannelEntry,
  type PackagesEntry,
  parsePackagesIndex,
} from './apt-installer.ts';
export { ControlPlaneClient, ControlPlaneError } from './control-plane-client.ts';
export {
  type AptChannel,
  type DesiredState,
  DesiredStateError,
  type ProcessHealthCheck,
  type ProcessSpec,
  parseDesiredState,
  processFingerprint,
  type ReleaseSpec,
  type RestartPolicy,
  STOP_SIGNALS,
  type StopSignal,
  type TaskSpec,
} from './desired-state.ts';
export { quoteEnvValue, renderEnvFile, writeEnvFileAtomically } from './env-file.ts';
export { HealthProbe, probeOnce } from './health-probe.ts';
export { HostMetricsSampler, residentBytes } from './host-metrics.ts';
export { type InstallContext, type Installer, NO_INSTALLER } from './installer.ts';
export { ProcessSupervisor, type SupervisorOptions } from './process-supervisor.ts';
export { belongsToRelease, type InstalledRelease, secretValuesOf } from './release-install.ts';
export { type AppUser, appUser, runReleaseSteps } from './release-steps.ts';
export {
  type AgentReport,
  type HealthReport,
  type HostMetrics,
  type ProcessReport,
  ProcessState,
  type ReleaseReport,
  ReleaseState,
  type TaskReport,
} from './report.ts';
export { RotatingLog } from './rotating-log.ts';
export { redact, runTask } from './task-runner.ts';
export { AGENT_VERSION } from './version.ts';
