/** Public face of the signaling server: start it, configure it, mint join tokens. */

export {
  describeServerArgs,
  loadServerOptions,
  parseServerArgs,
  SERVER_SETTINGS,
  type ServerArgs,
  serverFlagsHelp,
} from './config';
export {
  type AccessLogEntry,
  DEFAULT_LIMITS,
  DEFAULT_OPTIONS,
  type SignalingLimits,
  type SignalingOptions,
  type SignalingServer,
  type SignalingStartOptions,
  startSignalingServer,
} from './server';
export {
  createToken,
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
  TOKEN_VERSION,
  TokenError,
  type TokenProblem,
  verifyToken,
} from './tokens';
