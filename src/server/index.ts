/** @module The control plane's HTTP server: config, the request pipeline, system routes, start and stop. */

export { type AppOptions, buildApp } from './app.ts';
export {
  loadServerConfig,
  ServerConfig,
  type ServerSettings,
  serverSettingsFromEnvironment,
} from './config.ts';
export { type ErrorBody, errorBody } from './http-errors.ts';
export { MODULE_MIGRATIONS, moduleRoutes } from './modules.ts';
export { buildOpenApi } from './openapi.ts';
export { type RunningServer, type StartServerOptions, startServer } from './server.ts';
