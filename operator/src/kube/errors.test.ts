import { ApiException } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { isConflict, isNotFound, statusCodeOf } from "./errors.ts";

describe("statusCodeOf, isNotFound and isConflict", () => {
  it.each([
    { name: "an ApiException 404", error: new ApiException(404, "Not Found", {}, {}), code: 404 },
    { name: "an ApiException 409", error: new ApiException(409, "Conflict", {}, {}), code: 409 },
    {
      name: "a watch error with statusCode 410",
      error: Object.assign(new Error("Gone"), { statusCode: 410 }),
      code: 410,
    },
    {
      name: "a network error with a string code",
      error: Object.assign(new Error("reset"), { code: "ECONNRESET" }),
      code: undefined,
    },
    { name: "a thrown string", error: "boom", code: undefined },
    { name: "undefined", error: undefined, code: undefined },
  ])("should read $code from $name", ({ error, code }) => {
    expect(statusCodeOf(error)).toBe(code);
    expect(isNotFound(error)).toBe(code === 404);
    expect(isConflict(error)).toBe(code === 409);
  });
});
