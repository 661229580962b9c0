export * from "./access-policy.ts";
export * from "./access-schedule.ts";
export * from "./constants.ts";
export * from "./duration.ts";
export * from "./fields.ts";
export * from "./machine-identity.ts";
export * from "./object.ts";
export * from "./validation.ts";
