// The runtime directory's protocol lives in protocol/run-dir.ts; node/lock.ts still imports it from here.
export { EXIT_UNSAFE } from "../protocol/exit-codes";
export { RUN_DIR, RUN_DIR_GUARD } from "../protocol/run-dir";
