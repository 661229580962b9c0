import type { StartControllers } from "./context.ts";

/**
 * The AccessSchedule and AccessPolicy controllers. Until they are wired in here, the operator runs
 * only the identity controllers.
 */
export const startAccessControllers: StartControllers = async () => async () => {};
